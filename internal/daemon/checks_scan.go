package daemon

// scanCheckers: spamd, rspamd, clamd, milters (issue 13).
func (d *daemon) scanCheckers() []checker { return nil }
