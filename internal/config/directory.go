package config

// Directory is where hosted domains, mailboxes and aliases are kept.
type Directory struct {
	DSN                 string   `toml:"dsn" default:"" doc:"The directory database. Empty: SQLite in server.data_dir/directory.db. sqlite:/path/file.db for another SQLite file, or postgres://user:password@host:port/db for PostgreSQL shared by several ebb hosts."`
	SubaddressSeparator string   `toml:"subaddress_separator" default:"+" doc:"The separator between the user and the detail in a local part (alice+tag@): mail to alice+tag@ reaches alice. Empty turns subaddressing off."`
	MaxAliasDepth       int      `toml:"max_alias_depth" default:"10" min:"1" doc:"How many aliases one address may pass through before the resolution is refused as a loop."`
	Postmaster          string   `toml:"postmaster" default:"" doc:"Where mail to postmaster@ a hosted domain goes when that domain has no mailbox or alias of the name (RFC 5321 4.5.1: every domain must take it). Empty: to postmaster@ the domain added first, when that one exists. ebb doctor warns about every domain whose postmaster reaches nobody."`
	BusyTimeout         Duration `toml:"busy_timeout" default:"5s" doc:"SQLite: how long a writer waits for another process's lock before giving up with a temporary error (several ebb commands may write at once)."`
	ConnectTimeout      Duration `toml:"connect_timeout" default:"5s" doc:"PostgreSQL: how long to wait for a connection before the directory counts as unreachable (a temporary error)."`
	CacheTTL            Duration `toml:"cache_ttl" default:"5s" doc:"How long a resolved address (hit or unknown) is remembered in memory by a running ebb. Changes made by another process show after at most this long. 0s turns the cache off."`
	AllowPlain          bool     `toml:"allow_plain" default:"false" doc:"Accept {PLAIN} (clear-text) password entries at login and import. Off: such entries are refused. They are rehashed to argon2id at the next successful login either way."`
	Argon2Memory        Size     `toml:"argon2_memory" default:"64M" min:"8192" doc:"argon2id memory for new password hashes (RFC 9106 second recommended option: 64 MiB)."`
	Argon2Time          int      `toml:"argon2_time" default:"3" min:"1" doc:"argon2id passes (time cost) for new password hashes."`
	Argon2Threads       int      `toml:"argon2_threads" default:"1" min:"1" doc:"argon2id lanes (parallelism) for new password hashes. Dovecot's default is 1."`
	AuthConcurrency     int      `toml:"auth_concurrency" default:"4" min:"1" doc:"The most password verifications (SMTP AUTH) that run at once; fewer when directory.auth_memory does not hold that many (an argon2id verification allocates its hash's memory parameter, directory.argon2_memory for hashes made here). Further logins wait in turn."`
	AuthMemory          Size     `toml:"auth_memory" default:"256M" min:"1048576" doc:"The memory that password verifications running at once may use together. The daemon's peak memory is about 100 MiB plus this. A hash that needs more than this runs alone."`
	AuthWait            Duration `toml:"auth_wait" default:"10s" doc:"How long a login waits for its turn at password verification before it is answered 454 4.7.0 (try again later). Logged with the number waiting."`
	SharedState         bool     `toml:"shared_state" default:"true" doc:"With a PostgreSQL directory (several ebb hosts, docs/scaling.md): keep in that database, in tables of their own, what the hosts must share so that none acts alone: vacation and duplicate records, the AUTH failure counts, the journal ebb explain reads, each host's queue summary for the queue page, and which host fetches each fetch account. false: all of it stays per host in server.data_dir (one host only). Ignored for SQLite."`
}
