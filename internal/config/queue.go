package config

// Queue is the durable queue.
type Queue struct {
	Spool          string   `toml:"spool" default:"/var/spool/ebb" doc:"The spool directory: one data file and one envelope file per message under queue/, the lock file and the control socket. Owned by server.user, mode 0700."`
	Lifetime       Duration `toml:"lifetime" default:"5d" doc:"How long a message is retried before it bounces."`
	DelayNotice    Duration `toml:"delay_notice" default:"4h" doc:"After how long the sender gets a delay notice (once). 0 turns delay notices off."`
	RetryMin       Duration `toml:"retry_min" default:"5m" doc:"The first retry interval; each later one doubles (with jitter) up to queue.retry_max."`
	RetryMax       Duration `toml:"retry_max" default:"1h" doc:"The longest retry interval."`
	Sync           string   `toml:"sync" default:"filesystem" oneof:"filesystem,files" doc:"How a received message is made durable before the 250 (or exit 0). filesystem: data and envelope are written, then one syncfs(2) of the spool's filesystem covers every message received at that moment (group commit; needs Linux 5.8 or later to report write errors); ebb serve's Maildir deliveries on the same filesystem share those flushes instead of fsyncing their file and new/ themselves. files: fsync of the data file, of the envelope and of the directory, the directory fsync shared. Both wait for the disk; filesystem makes fewer, larger flushes."`
	Workers        int      `toml:"workers" default:"32" min:"1" doc:"How many delivery attempts run at the same time."`
	AttemptTimeout Duration `toml:"attempt_timeout" default:"10m" doc:"How long one delivery attempt to one recipient may take before it is cancelled and deferred."`
	StopTimeout    Duration `toml:"stop_timeout" default:"30s" doc:"On shutdown (SIGTERM), how long attempts in flight may still run before they are cancelled; a cancelled attempt is retried after the restart."`
}
