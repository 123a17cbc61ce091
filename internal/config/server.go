package config

// Server is the ebb process itself.
type Server struct {
	Hostname string `toml:"hostname" default:"" doc:"The name ebb uses for itself: SMTP greeting, Received headers, Maildir file names, Message-IDs. Empty means the machine's host name."`
	User     string `toml:"user" default:"vmail" doc:"The system user that owns the spool and every Maildir. ebb serve started as root binds its ports and then runs as this user; ebb doctor probes every path as this user."`
	Group    string `toml:"group" default:"" doc:"The group to run as. Empty means the primary group of server.user."`
	DataDir  string `toml:"data_dir" default:"/var/lib/ebb" doc:"Where ebb keeps its state: the embedded directory database, vacation and duplicate records, locks."`
}
