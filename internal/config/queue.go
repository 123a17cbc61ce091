package config

// Queue is the durable queue.
type Queue struct {
	Spool       string   `toml:"spool" default:"/var/spool/ebb" doc:"The spool directory: one data file and one envelope file per message. Owned by server.user, mode 0700."`
	Lifetime    Duration `toml:"lifetime" default:"5d" doc:"How long a message is retried before it bounces."`
	DelayNotice Duration `toml:"delay_notice" default:"4h" doc:"After how long the sender gets a delay notice (once). 0 turns delay notices off."`
	RetryMin    Duration `toml:"retry_min" default:"5m" doc:"The first retry interval; each later one doubles (with jitter) up to queue.retry_max."`
	RetryMax    Duration `toml:"retry_max" default:"1h" doc:"The longest retry interval."`
}
