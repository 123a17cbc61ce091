package config

import (
	"path/filepath"

	"github.com/ebbmail/ebb/internal/diag"
)

// Sendmail is local injection: ebb sendmail (and /usr/sbin/sendmail when it
// points to ebb) handing a message to the daemon.
type Sendmail struct {
	PickupDir    string   `toml:"pickup_dir" default:"" doc:"Where ebb sendmail leaves messages for the daemon. Empty: ebb-pickup beside queue.spool (/var/spool/ebb-pickup with the default spool), so that every daemon has its own. ebb serve creates it owned by server.user, mode 3733 (setgid, sticky, writable but not listable by others); files inherit the daemon's group, so users can drop mail there but not read each other's."`
	Socket       string   `toml:"socket" default:"" doc:"The unix socket ebb serve listens on for ebb sendmail (mode 0666; the daemon learns the caller's uid from the socket). Empty: submit.sock in sendmail.pickup_dir."`
	Domain       string   `toml:"domain" default:"" doc:"The domain that qualifies bare names: sendmail root sends to root@this, and a user's own address is login@this. Empty: server.hostname."`
	ScanInterval Duration `toml:"scan_interval" default:"5s" doc:"How often ebb serve looks into sendmail.pickup_dir for messages left there while it was down or busy."`
	Timeout      Duration `toml:"timeout" default:"60s" doc:"How long ebb sendmail waits for the daemon to take a message before leaving it in sendmail.pickup_dir instead (it is still delivered; the daemon picks it up)."`
}

// PickupDir is sendmail.pickup_dir, or ebb-pickup beside queue.spool when
// it is empty: each spool gets its own pickup directory (two daemons on
// one host must not share one), and the default spool gives the
// documented /var/spool/ebb-pickup.
func (c *Config) PickupDir() string {
	if c.Sendmail.PickupDir != "" {
		return c.Sendmail.PickupDir
	}
	return filepath.Join(filepath.Dir(filepath.Clean(c.Queue.Spool)), "ebb-pickup")
}

// PickupDirSetting is the diag setting for the pickup directory, with the
// path it resolved to.
func (c *Config) PickupDirSetting() *diag.Setting {
	s := c.Setting("sendmail.pickup_dir")
	if s.Value == "" {
		s.Value = c.PickupDir()
	}
	return s
}

// PickupSocketSetting is the diag setting that chose the pickup socket's
// path (pickup.SocketPath): sendmail.socket when it is set, else the
// pickup directory's, where the socket is then made.
func (c *Config) PickupSocketSetting() *diag.Setting {
	if c.Sendmail.Socket != "" {
		return c.Setting("sendmail.socket")
	}
	return c.PickupDirSetting()
}
