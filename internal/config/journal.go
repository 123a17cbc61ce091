package config

import "path/filepath"

// Journal is the record of every message's events that `ebb explain`
// reads, kept after the message has left the queue.
type Journal struct {
	Enabled   bool     `toml:"enabled" default:"true" doc:"Keep a journal of every message's events (received, checks, each delivery attempt, DSNs, operator actions) for ebb explain."`
	Dir       string   `toml:"dir" default:"" doc:"Where the journal's files are (one per day, JSON lines). Empty: journal/ in server.data_dir."`
	Retention Duration `toml:"retention" default:"336h" min:"1h" doc:"How long a day's file is kept after the day ended (336h = 14 days)."`
}

// JournalDir is journal.dir, or journal/ in server.data_dir when empty.
func (c *Config) JournalDir() string {
	if c.Journal.Dir != "" {
		return c.Journal.Dir
	}
	return filepath.Join(c.Server.DataDir, "journal")
}
