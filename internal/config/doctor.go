package config

// Doctor holds the thresholds ebb doctor warns at.
type Doctor struct {
	MinFree       Size   `toml:"min_free" default:"500M" doc:"Warn when a filesystem that ebb writes to has less free space than this."`
	MinFreeInodes int64  `toml:"min_free_inodes" default:"10000" min:"0" doc:"Warn when a filesystem that ebb writes to has fewer free inodes than this."`
	DovecotConfig string `toml:"dovecot_config" default:"/etc/dovecot/dovecot.conf" doc:"The Dovecot configuration ebb doctor reads (with doveconf) to check, when Dovecot serves ebb's users (ebb dovecot config), that it can read ebb's directory and opens the Maildirs as server.user. A missing file or no doveconf: nothing to check."`
}
