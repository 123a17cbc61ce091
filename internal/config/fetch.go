package config

// Fetch is the fetching of mail from remote IMAP and POP3 accounts
// (docs/fetch.md). The accounts themselves live in the directory (ebb fetch
// add); these keys are the behaviour every account shares.
type Fetch struct {
	Enabled            bool     `toml:"enabled" default:"true" doc:"Run the fetch accounts in ebb serve (ebb fetch run works either way)."`
	MaxAccounts        int      `toml:"max_accounts" default:"8" min:"1" doc:"How many accounts connect and fetch at the same time; the others wait their turn. An account that hangs holds one slot (until fetch.timeout), never the others; an account waiting in IDLE holds none and fetches what is pushed at once."`
	Interval           Duration `toml:"interval" default:"5m" doc:"How often an account is polled when the server has no IDLE, when the account has several folders (IDLE watches one), and for POP3. An account's own interval (ebb fetch add --interval) wins."`
	Idle               bool     `toml:"idle" default:"true" doc:"Wait for new mail with IMAP IDLE (RFC 2177) when the server offers it: mail arrives within seconds instead of at the next poll."`
	IdleRestart        Duration `toml:"idle_restart" default:"28m" doc:"How long one IDLE lasts before it is re-issued; RFC 2177 §3 asks clients to do so before 29 minutes, since servers may drop an idle client after 30."`
	Batch              int      `toml:"batch" default:"64" min:"1" doc:"How many messages one UID FETCH asks for (BODY.PEEK[]: the server's \\Seen flag does not change), and how many RETR commands are pipelined when the POP3 server offers PIPELINING (RFC 2449)."`
	UIDValidityChange  string   `toml:"uidvalidity_change" default:"stop" oneof:"stop,refetch" doc:"What to do when a folder's UIDVALIDITY changes (RFC 3501 §2.3.1.1: every stored UID is void). stop: fetch nothing more from that folder and say so in ebb fetch list, the log and ebb doctor, until ebb fetch reset ACCOUNT. refetch: go through the folder again, skipping each message whose content (its digest) was already taken."`
	Timeout            Duration `toml:"timeout" default:"60s" doc:"How long a connection, a login or one server reply may take before the attempt fails (and is retried with backoff)."`
	BackoffMin         Duration `toml:"backoff_min" default:"30s" doc:"The wait after an account's first failure; it doubles with each failure in a row up to fetch.backoff_max."`
	BackoffMax         Duration `toml:"backoff_max" default:"1h" doc:"The longest wait between attempts of a failing account."`
	TokenRefreshBefore Duration `toml:"token_refresh_before" default:"5m" doc:"OAuth2: refresh an access token this long before it expires, and end a long IMAP session (IDLE) then to log in again with the new token."`
	FailingAfter       int      `toml:"failing_after" default:"3" min:"1" doc:"After this many failed attempts in a row, ebb doctor reports the account."`
	Lease              Duration `toml:"lease" default:"15s" min:"1s" doc:"With several hosts sharing state (directory.shared_state): one host at a time fetches an account, holding its lease, which it renews every third of this time. When that host stops, another takes the account at once; when it dies, within this time and a fifth of it more (the others look that often). Ignored for one host."`
}
