package fetchstate

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// FetchState is where one remote message stands (docs/fetch.md, "Nothing
// is lost"). Only a delivered message's server copy is ever deleted or
// moved.
type FetchState string

const (
	// FetchPending: read whole and being made durable in the local queue
	// under QueueID (recorded before the queue's flush, so that a crash
	// cannot leave a queued message without a row). The pass that took
	// it turns it into queued once the queue returned; a row still
	// pending at the start of a pass was left by a crash or a failed
	// receive, and is settled by asking the queue (fetch's settlePending):
	// queued if the queue holds it or has said how it ended, else retry
	// (it never became durable: it is fetched again). A host settles its
	// own pending rows of every account when it starts (fetch.Runner),
	// since another host may hold the account's lease by then.
	FetchPending FetchState = "pending"
	// FetchQueued: durable in the local queue; how its delivery ends is
	// not known yet, so the server copy stays.
	FetchQueued FetchState = "queued"
	// FetchDelivered: delivered here (a Maildir, or passed on by an
	// alias); the after-action (delete, move) may remove the server copy.
	FetchDelivered FetchState = "delivered"
	// FetchSkipped: refused here for good (quota, loop, a scanner, size,
	// expiry …); the server copy stays, and a person is told (Notified).
	FetchSkipped FetchState = "skipped"
	// FetchRetry: skipped, then asked for again (ebb fetch retry): the
	// next pass fetches it as if it were new.
	FetchRetry FetchState = "retry"
)

// FetchedMessage is one remote message ebb took (or skipped), recorded
// after it was durable in the queue (or refused).
type FetchedMessage struct {
	Folder      string
	UIDValidity uint32
	UID         string // decimal IMAP UID, or the POP3 UIDL
	// Hash is of Message-ID, Date and size: what rows from before schema
	// version 3 carry instead of Digest.
	Hash string
	// Digest is the SHA-256 of the content as the server sent it: the
	// message's identity across a UIDVALIDITY change.
	Digest  string
	Size    int64
	QueueID string
	// QueueHost is the host whose queue took it (server.hostname; ""
	// for rows from before schema version 4).
	QueueHost string
	State     FetchState
	// Removed: the after-action (delete, move) is done or not needed.
	Removed bool
	// Reason is why it was skipped, or why it waits in the queue (a
	// sentence with the fix); Ref is the reference ebb explain knows it by.
	Reason string
	Ref    string
	// Public is the reason as the notice tells it to people: the
	// refusal's public text, no local path ("" for rows from before
	// schema version 5).
	Public string
	// Summary is its From, Subject, Date and Message-ID, for the notice
	// and ebb fetch list.
	Summary  string
	Notified bool
	At       time.Time
}

const fetchSeenColumns = `folder, uidvalidity, uid, hash, digest, size, queue_id, state, removed, reason, ref, summary, notified, at, queue_host, public`

func scanFetched(r interface{ Scan(...any) error }) (FetchedMessage, error) {
	var m FetchedMessage
	var uv, at int64
	var removed, notified int
	var state string
	err := r.Scan(&m.Folder, &uv, &m.UID, &m.Hash, &m.Digest, &m.Size, &m.QueueID, &state, &removed, &m.Reason, &m.Ref,
		&m.Summary, &notified, &at, &m.QueueHost, &m.Public)
	m.UIDValidity, m.State, m.Removed, m.Notified, m.At = uint32(uv), FetchState(state), removed != 0, notified != 0, time.Unix(at, 0)
	return m, err
}

func (d *Store) queryFetched(ctx context.Context, op, where string, args ...any) ([]FetchedMessage, error) {
	rows, err := d.dir.DB().QueryContext(ctx, d.dir.Rebind(`SELECT `+fetchSeenColumns+` FROM fetch_seen WHERE `+where), args...)
	if err != nil {
		return nil, d.dir.DBError(op, err)
	}
	defer rows.Close()
	var out []FetchedMessage
	for rows.Next() {
		m, err := scanFetched(rows)
		if err != nil {
			return nil, d.dir.DBError(op, err)
		}
		out = append(out, m)
	}
	return out, d.dir.DBError(op, rows.Err())
}

// RecordFetched records m. A second record of the same UID (a replay
// after a crash) changes nothing, except that it takes the place of a
// row in state retry (a message asked for again is recorded anew) or
// pending (what the queue did with it, once Receive returned).
func (d *Store) RecordFetched(ctx context.Context, account string, m FetchedMessage) error {
	if m.State == "" {
		m.State = FetchQueued
	}
	at := nowUnix()
	if !m.At.IsZero() {
		at = m.At.Unix()
	}
	_, err := d.dir.DB().ExecContext(ctx, d.dir.Rebind(`INSERT INTO fetch_seen (account, `+fetchSeenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET hash = excluded.hash, digest = excluded.digest,
			size = excluded.size, queue_id = excluded.queue_id, state = excluded.state, removed = excluded.removed,
			reason = excluded.reason, ref = excluded.ref, summary = excluded.summary, notified = excluded.notified, at = excluded.at,
			queue_host = excluded.queue_host, public = excluded.public
		WHERE fetch_seen.state IN ('retry', 'pending')`),
		account, m.Folder, int64(m.UIDValidity), m.UID, m.Hash, m.Digest, m.Size, m.QueueID, string(m.State), boolInt(m.Removed),
		m.Reason, m.Ref, m.Summary, boolInt(m.Notified), at, m.QueueHost, m.Public)
	return d.dir.DBError("record a fetched message", err)
}

// FetchedInFolder returns what is recorded for a folder under uidvalidity,
// by UID (or UIDL).
func (d *Store) FetchedInFolder(ctx context.Context, account, folder string, uidvalidity uint32) (map[string]FetchedMessage, error) {
	list, err := d.queryFetched(ctx, "read fetched messages", `account = ? AND folder = ? AND uidvalidity = ?`,
		account, folder, int64(uidvalidity))
	if err != nil {
		return nil, err
	}
	out := make(map[string]FetchedMessage, len(list))
	for _, m := range list {
		out[m.UID] = m
	}
	return out, nil
}

// FetchedElsewhere returns what is recorded for a folder under every
// UIDVALIDITY but uidvalidity: the messages a refetch after a change
// recognises by their digest.
func (d *Store) FetchedElsewhere(ctx context.Context, account, folder string, uidvalidity uint32) ([]FetchedMessage, error) {
	return d.queryFetched(ctx, "read fetched messages", `account = ? AND folder = ? AND uidvalidity <> ?`,
		account, folder, int64(uidvalidity))
}

// FetchedDue lists a folder's delivered messages whose after-action
// (delete, move) is not done yet: the ones whose server copies may go.
func (d *Store) FetchedDue(ctx context.Context, account, folder string, uidvalidity uint32) ([]FetchedMessage, error) {
	return d.queryFetched(ctx, "read fetched messages", `account = ? AND state = 'delivered' AND removed = 0 AND folder = ? AND uidvalidity = ?`,
		account, folder, int64(uidvalidity))
}

// FetchedByState lists an account's messages in the given states, oldest
// first (ebb fetch list: what was skipped, what waits in the queue).
func (d *Store) FetchedByState(ctx context.Context, account string, states ...FetchState) ([]FetchedMessage, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{account}
	marks := make([]string, len(states))
	for i, s := range states {
		marks[i] = "?"
		args = append(args, string(s))
	}
	return d.queryFetched(ctx, "list fetched messages", `account = ? AND state IN (`+strings.Join(marks, ", ")+`) ORDER BY at, folder, uid`, args...)
}

// FetchedKey names one recorded message.
type FetchedKey struct {
	Folder      string
	UIDValidity uint32
	UID         string
}

// Key is m's key.
func (m FetchedMessage) Key() FetchedKey { return FetchedKey{m.Folder, m.UIDValidity, m.UID} }

func (d *Store) updateFetched(ctx context.Context, op, account, set string, keys []FetchedKey, args ...any) error {
	if len(keys) == 0 {
		return nil
	}
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return d.dir.DBError(op, err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		a := append(append([]any{}, args...), account, k.Folder, int64(k.UIDValidity), k.UID)
		if _, err := tx.ExecContext(ctx, d.dir.Rebind(`UPDATE fetch_seen SET `+set+` WHERE account = ? AND folder = ? AND uidvalidity = ? AND uid = ?`), a...); err != nil {
			return d.dir.DBError(op, err)
		}
	}
	return d.dir.DBError(op, tx.Commit())
}

// MarkRemoved records that the server copies of uids are deleted or moved.
func (d *Store) MarkRemoved(ctx context.Context, account, folder string, uidvalidity uint32, uids []string) error {
	keys := make([]FetchedKey, len(uids))
	for i, u := range uids {
		keys[i] = FetchedKey{folder, uidvalidity, u}
	}
	return d.updateFetched(ctx, "record removed messages", account, `removed = 1`, keys)
}

// MarkQueued records that pending messages are durable in the queue (or
// were, and the queue said how they ended); rows in another state stay
// as they are. One statement per folder and up to 500 UIDs: a pass
// records a batch of messages so, not one write each.
func (d *Store) MarkQueued(ctx context.Context, account string, keys []FetchedKey) error {
	const op = "record fetched messages as queued"
	type folder struct {
		name string
		uv   uint32
	}
	byFolder := map[folder][]string{}
	var order []folder
	for _, k := range keys {
		f := folder{k.Folder, k.UIDValidity}
		if _, ok := byFolder[f]; !ok {
			order = append(order, f)
		}
		byFolder[f] = append(byFolder[f], k.UID)
	}
	if len(order) == 0 {
		return nil
	}
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return d.dir.DBError(op, err)
	}
	defer tx.Rollback()
	for _, f := range order {
		for uids := byFolder[f]; len(uids) > 0; {
			part := uids[:min(len(uids), 500)]
			uids = uids[len(part):]
			args := []any{account, f.name, int64(f.uv)}
			for _, u := range part {
				args = append(args, u)
			}
			q := `UPDATE fetch_seen SET state = 'queued' WHERE account = ? AND folder = ? AND uidvalidity = ? AND state = 'pending'
				AND uid IN (?` + strings.Repeat(", ?", len(part)-1) + `)`
			if _, err := tx.ExecContext(ctx, d.dir.Rebind(q), args...); err != nil {
				return d.dir.DBError(op, err)
			}
		}
	}
	return d.dir.DBError(op, tx.Commit())
}

// MarkNotified records that a person was told about the skipped messages.
func (d *Store) MarkNotified(ctx context.Context, account string, keys []FetchedKey) error {
	return d.updateFetched(ctx, "record a notice", account, `notified = 1`, keys)
}

// SkipFetched turns recorded messages (queued ones whose outcome was
// lost) into skipped ones, with why (reason; public for the notice).
func (d *Store) SkipFetched(ctx context.Context, account string, keys []FetchedKey, reason, public, ref string) error {
	return d.updateFetched(ctx, "record a skipped message", account, `state = 'skipped', reason = ?, public = ?, ref = ?, notified = 0`, keys, reason, public, ref)
}

// ForgetFetched removes the records of messages that are gone from the
// server before they were fetched (a retry of a message deleted since).
func (d *Store) ForgetFetched(ctx context.Context, account string, keys []FetchedKey) error {
	if len(keys) == 0 {
		return nil
	}
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return d.dir.DBError("forget fetched messages", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, d.dir.Rebind(`DELETE FROM fetch_seen WHERE account = ? AND folder = ? AND uidvalidity = ? AND uid = ?`),
			account, k.Folder, int64(k.UIDValidity), k.UID); err != nil {
			return d.dir.DBError("forget fetched messages", err)
		}
	}
	return d.dir.DBError("forget fetched messages", tx.Commit())
}

// RetryPending asks again for pending messages that never became durable
// in the queue (fetch's settlePending): the next pass fetches them as new
// ones. A row is kept, as retry, rather than forgotten: an IMAP folder's
// pass only searches above the highest UID it saw (another host's pass
// meanwhile may have moved that past them) and for rows in state retry.
// Only rows still pending change.
func (d *Store) RetryPending(ctx context.Context, account string, keys []FetchedKey) error {
	if len(keys) == 0 {
		return nil
	}
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return d.dir.DBError("ask again for messages that never reached the queue", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, d.dir.Rebind(`UPDATE fetch_seen SET state = 'retry', reason = '', public = '', ref = '', notified = 0 WHERE account = ? AND folder = ? AND uidvalidity = ? AND uid = ? AND state = 'pending'`),
			account, k.Folder, int64(k.UIDValidity), k.UID); err != nil {
			return d.dir.DBError("ask again for messages that never reached the queue", err)
		}
	}
	return d.dir.DBError("ask again for messages that never reached the queue", tx.Commit())
}

// RetryFetched asks for skipped messages again (all of the account's when
// uids is empty): the next pass fetches them as new ones. It returns how
// many it changed.
func (d *Store) RetryFetched(ctx context.Context, account string, uids []string) (int, error) {
	q := `UPDATE fetch_seen SET state = 'retry', reason = '', public = '', ref = '', notified = 0 WHERE account = ? AND state = 'skipped'`
	args := []any{account}
	if len(uids) > 0 {
		marks := make([]string, len(uids))
		for i, u := range uids {
			marks[i] = "?"
			args = append(args, u)
		}
		q += ` AND uid IN (` + strings.Join(marks, ", ") + `)`
	}
	r, err := d.dir.DB().ExecContext(ctx, d.dir.Rebind(q), args...)
	if err != nil {
		return 0, d.dir.DBError("retry skipped messages", err)
	}
	n, _ := r.RowsAffected()
	return int(n), nil
}

// Outcomes the queue reports for a fetched message (RecordFetchOutcome).
const (
	OutcomeDelivered = "delivered"
	OutcomeRefused   = "refused"  // failed for good, or expired
	OutcomeDeferred  = "deferred" // tried; waits for the next attempt
)

// RecordFetchOutcome records what the queue said about the fetched
// message queueID: the outcome, the reason (the whole sentence), its
// public text (no local path: FetchedMessage.Public) and ref. A final
// outcome is never replaced; a deferral only by a later one.
func (d *Store) RecordFetchOutcome(ctx context.Context, queueID, outcome, reason, public, ref string) error {
	_, err := d.dir.DB().ExecContext(ctx, d.dir.Rebind(`INSERT INTO fetch_outcomes (queue_id, state, reason, ref, at, public) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (queue_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, ref = excluded.ref, at = excluded.at,
			public = excluded.public
		WHERE fetch_outcomes.state = 'deferred'`), queueID, outcome, reason, ref, nowUnix(), public)
	return d.dir.DBError("record a fetched message's outcome", err)
}

// outcomeKeep is how long an outcome that matches no fetched message is
// kept (a removed account's, say).
const outcomeKeep = 30 * 24 * time.Hour

// ApplyFetchOutcomes moves the account's queued messages on by what the
// queue said: delivered, or skipped with the queue's reason; a deferral
// only updates the reason (the message still waits). It returns the rows
// it changed, as they are now, in one transaction.
func (d *Store) ApplyFetchOutcomes(ctx context.Context, account string) ([]FetchedMessage, error) {
	const op = "apply the queue's outcomes to fetched messages"
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, d.dir.DBError(op, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, d.dir.Rebind(`SELECT s.folder, s.uidvalidity, s.uid, s.queue_id, o.state, o.reason, o.ref, o.public
		FROM fetch_seen s JOIN fetch_outcomes o ON o.queue_id = s.queue_id
		WHERE s.account = ? AND s.state = 'queued' AND s.queue_id <> ''`), account)
	if err != nil {
		return nil, d.dir.DBError(op, err)
	}
	type change struct {
		key                          FetchedKey
		qid, state, why, ref, public string
	}
	var changes []change
	for rows.Next() {
		var c change
		var uv int64
		if err := rows.Scan(&c.key.Folder, &uv, &c.key.UID, &c.qid, &c.state, &c.why, &c.ref, &c.public); err != nil {
			rows.Close()
			return nil, d.dir.DBError(op, err)
		}
		c.key.UIDValidity = uint32(uv)
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, d.dir.DBError(op, err)
	}
	var out []FetchedMessage
	for _, c := range changes {
		set, args := `reason = ?, public = ?`, []any{c.why, c.public}
		switch c.state {
		case OutcomeDelivered:
			set, args = `state = 'delivered', reason = '', ref = '', public = ''`, nil
		case OutcomeRefused:
			set, args = `state = 'skipped', reason = ?, public = ?, ref = ?, notified = 0`, []any{c.why, c.public, c.ref}
		}
		args = append(args, account, c.key.Folder, int64(c.key.UIDValidity), c.key.UID)
		if _, err := tx.ExecContext(ctx, d.dir.Rebind(`UPDATE fetch_seen SET `+set+` WHERE account = ? AND folder = ? AND uidvalidity = ? AND uid = ?`), args...); err != nil {
			return nil, d.dir.DBError(op, err)
		}
		m, err := scanFetched(tx.QueryRowContext(ctx, d.dir.Rebind(`SELECT `+fetchSeenColumns+` FROM fetch_seen WHERE account = ? AND folder = ? AND uidvalidity = ? AND uid = ?`),
			account, c.key.Folder, int64(c.key.UIDValidity), c.key.UID))
		if err != nil {
			return nil, d.dir.DBError(op, err)
		}
		out = append(out, m)
	}
	// A final outcome is spent once no row of its queue id waits for it
	// (queued, or pending: another account's pass may not have recorded
	// it as queued yet); one that no row names yet stays (the queue may
	// answer before the fetcher records the message), up to outcomeKeep.
	cutoff := time.Now().Add(-outcomeKeep).Unix()
	if _, err := tx.ExecContext(ctx, d.dir.Rebind(`DELETE FROM fetch_outcomes WHERE at < ? OR state <> 'deferred'
		AND EXISTS (SELECT 1 FROM fetch_seen s WHERE s.queue_id = fetch_outcomes.queue_id)
		AND NOT EXISTS (SELECT 1 FROM fetch_seen s WHERE s.queue_id = fetch_outcomes.queue_id AND s.state IN ('queued', 'pending'))`), cutoff); err != nil {
		return nil, d.dir.DBError(op, err)
	}
	return out, d.dir.DBError(op, tx.Commit())
}

// FetchOutcome returns what the queue said about queueID ("" when
// nothing).
func (d *Store) FetchOutcome(ctx context.Context, queueID string) (outcome, reason, ref string, err error) {
	err = d.dir.DB().QueryRowContext(ctx, d.dir.Rebind(`SELECT state, reason, ref FROM fetch_outcomes WHERE queue_id = ?`), queueID).Scan(&outcome, &reason, &ref)
	if err == sql.ErrNoRows {
		return "", "", "", nil
	}
	return outcome, reason, ref, d.dir.DBError("read a fetched message's outcome", err)
}
