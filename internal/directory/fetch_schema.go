package directory

// fetchMigration (schema version 2) holds the fetch accounts and what each
// has delivered (docs/fetch.md). Exactly once rests on fetch_seen: a row is
// written only after the message is durable in the queue, and the server
// copy is deleted or moved only after its row exists (removed = 0 marks one
// whose after-action is still due, so a crash between the two finishes it
// on the next run).
var fetchMigration = []string{
	`CREATE TABLE fetch_accounts (
		name TEXT PRIMARY KEY,
		protocol TEXT NOT NULL,
		host TEXT NOT NULL,
		port INTEGER NOT NULL,
		tls TEXT NOT NULL,
		verify INTEGER NOT NULL DEFAULT 1,
		ca_file TEXT NOT NULL DEFAULT '',
		username TEXT NOT NULL,
		auth TEXT NOT NULL,
		password TEXT NOT NULL DEFAULT '',
		oauth TEXT NOT NULL DEFAULT '',
		folders TEXT NOT NULL DEFAULT 'INBOX',
		mailbox TEXT NOT NULL,
		after_fetch TEXT NOT NULL DEFAULT 'keep',
		move_to TEXT NOT NULL DEFAULT '',
		interval_seconds BIGINT NOT NULL DEFAULT 0,
		enabled INTEGER NOT NULL DEFAULT 1,
		status TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL DEFAULT 0
	)`,
	// One row per (account, folder): the UIDVALIDITY the stored UIDs belong
	// to, the highest UID delivered, CONDSTORE's HIGHESTMODSEQ, and why the
	// folder is stopped (a UIDVALIDITY change under the stop rule).
	`CREATE TABLE fetch_folders (
		account TEXT NOT NULL,
		folder TEXT NOT NULL,
		uidvalidity BIGINT NOT NULL DEFAULT 0,
		last_uid BIGINT NOT NULL DEFAULT 0,
		modseq BIGINT NOT NULL DEFAULT 0,
		stopped TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (account, folder)
	)`,
	// uid is the IMAP UID in decimal, or the POP3 UIDL; hash is of
	// Message-ID, Date and size (replaced by digest in version 3).
	`CREATE TABLE fetch_seen (
		account TEXT NOT NULL,
		folder TEXT NOT NULL,
		uidvalidity BIGINT NOT NULL,
		uid TEXT NOT NULL,
		hash TEXT NOT NULL DEFAULT '',
		queue_id TEXT NOT NULL DEFAULT '',
		removed INTEGER NOT NULL DEFAULT 0,
		at BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (account, folder, uidvalidity, uid)
	)`,
	`CREATE INDEX fetch_seen_hash ON fetch_seen (account, folder, hash)`,
}

// fetchOutcomeMigration (schema version 3) makes a remote copy depend on
// the local delivery, not on the queue alone (docs/fetch.md, "Nothing is
// lost"): each fetched message has a state (queued until the queue says
// how its delivery ended; delivered; skipped when it was refused here for
// good, its server copy kept and a person told; retry when an
// administrator asked for it again), the digest of its content (its
// identity across a UIDVALIDITY change, also for messages without
// Message-ID or Date), its size, why it was skipped with the reference
// ebb explain knows it by, a summary of its header for the notice, and
// whether that notice went out. fetch_outcomes holds what the queue said
// about a fetched message, keyed by queue id, written before the queue
// forgets the message: the fetcher applies it to fetch_seen at its next
// step, whichever of the two was written first.
var fetchOutcomeMigration = []string{
	// Rows from before this version were queued and taken as delivered.
	`ALTER TABLE fetch_seen ADD COLUMN state TEXT NOT NULL DEFAULT 'delivered'`,
	`ALTER TABLE fetch_seen ADD COLUMN digest TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE fetch_seen ADD COLUMN size BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE fetch_seen ADD COLUMN reason TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE fetch_seen ADD COLUMN ref TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE fetch_seen ADD COLUMN summary TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE fetch_seen ADD COLUMN notified INTEGER NOT NULL DEFAULT 0`,
	`CREATE INDEX fetch_seen_queue ON fetch_seen (queue_id)`,
	`CREATE INDEX fetch_seen_state ON fetch_seen (account, state)`,
	// state: delivered, refused (failed or expired: the fetcher skips
	// it), deferred (tried, waits; replaced by the final outcome).
	`CREATE TABLE fetch_outcomes (
		queue_id TEXT PRIMARY KEY,
		state TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		ref TEXT NOT NULL DEFAULT '',
		at BIGINT NOT NULL DEFAULT 0
	)`,
}

// fetchHostMigration (schema version 4) names the host whose queue holds
// a fetched message (several hosts on one PostgreSQL directory,
// docs/scaling.md): only that host can tell that its queue lost one; for
// another host that takes the account over, a message queued elsewhere
// waits there. "" is a row from before, or one host.
var fetchHostMigration = []string{
	`ALTER TABLE fetch_seen ADD COLUMN queue_host TEXT NOT NULL DEFAULT ''`,
}

// fetchPublicMigration (schema version 5) keeps, beside a skipped
// message's reason (the whole sentence, with local paths, for ebb fetch
// list and the log), what may be told to the people its notice goes to:
// the refusal's public text (diag.Error.Public, as an SMTP client would
// read it), never a local path (principle 1); the ref leads to the rest.
var fetchPublicMigration = []string{
	`ALTER TABLE fetch_seen ADD COLUMN public TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE fetch_outcomes ADD COLUMN public TEXT NOT NULL DEFAULT ''`,
}
