package config

// Sieve is filtering at delivery (RFC 5228 and extensions; docs/sieve.md).
//
// The per-user paths follow Dovecot Pigeonhole's layout so that scripts
// uploaded by ManageSieve clients or written for Dovecot work unchanged:
// scripts in ~/sieve/*.sieve and the active one linked as ~/.dovecot.sieve.
type Sieve struct {
	Enabled bool `toml:"enabled" default:"true" doc:"Run Sieve scripts at delivery."`
	// Script and Dir are templates: "~" is the user's home, which is the
	// parent of the Maildir unless Home says otherwise.
	Script string `toml:"script" default:"~/.dovecot.sieve" doc:"The user's active script (a file or a symlink to one, as Dovecot's ~/.dovecot.sieve). Placeholders: ~ or {home} (sieve.home), {maildir}, {local}, {domain}, {address}. A missing file means the user has no script."`
	Dir    string `toml:"dir" default:"~/sieve" doc:"The user's script directory: where include :personal finds scripts (Dovecot's ~/sieve). Same placeholders as sieve.script."`
	Home   string `toml:"home" default:"{maildir}/.." doc:"The user's home directory for ~ in sieve.script and sieve.dir. The default is the parent of the Maildir, as in a Dovecot layout /var/vmail/example.com/bob/{Maildir,sieve,.dovecot.sieve}."`
	// Global scripts run for every user, before and after the user's
	// script, as Pigeonhole's sieve_before/sieve_after do.
	Before    []string `toml:"before" default:"" doc:"Scripts run before the user's script for every delivery, in order (Pigeonhole's sieve_before). A script that stops ends the chain; fileinto/keep/redirect actions accumulate."`
	After     []string `toml:"after" default:"" doc:"Scripts run after the user's script for every delivery, in order (Pigeonhole's sieve_after). They run only when no earlier script stopped."`
	GlobalDir string   `toml:"global_dir" default:"/etc/ebb/sieve" doc:"Where include :global finds scripts (Pigeonhole's sieve_global)."`
	// Extensions is the set scripts may require.
	Extensions []string `toml:"extensions" default:"all" doc:"Extensions scripts may require: \"all\" (everything ebb implements), \"pigeonhole\" (what Pigeonhole enables without configuration), or a list of names; items \"+name\"/\"-name\" add to or remove from the set before them."`
	// SubaddressSeparator splits local parts for :user/:detail.
	SubaddressSeparator string `toml:"subaddress_separator" default:"+" doc:"The separator between user and detail in a local part (RFC 5233 :user/:detail), as Dovecot's recipient_delimiter."`
	MaxRedirects        int    `toml:"max_redirects" default:"4" min:"1" doc:"Redirects one delivery may make (Pigeonhole: sieve_max_redirects). More is a runtime error: the message is kept in INBOX and the error logged."`
	MaxActions          int    `toml:"max_actions" default:"32" min:"1" doc:"Actions one run may produce (Pigeonhole: sieve_max_actions)."`
	// State for vacation and duplicate lives in server.data_dir.
	VacationStateDir string `toml:"vacation_dir" default:"{data_dir}/sieve/vacation" doc:"Where vacation remembers whom it answered, one file per user and responder (RFC 5230 §4.2 :days / RFC 6131 :seconds)."`
	DuplicateDir     string `toml:"duplicate_dir" default:"{data_dir}/sieve/duplicate" doc:"Where the duplicate test (RFC 7352) remembers message ids, one file per user."`
}
