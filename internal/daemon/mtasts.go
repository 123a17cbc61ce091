package daemon

import (
	"context"

	"github.com/ebbmail/ebb/internal/mtasts"
)

// mtastsCache is the MTA-STS policy cache for the relay (mta_sts.*), or
// nil when mta_sts.enable is off. A CA file that cannot be read is logged
// and MTA-STS goes on with the system's roots: a policy host with a public
// certificate still verifies, and ebb doctor names the file.
func (d *daemon) mtastsCache() *mtasts.Cache {
	if !d.cfg.MTASTS.Enable {
		return nil
	}
	log := d.log.With("component", "mta-sts")
	c, err := mtasts.NewCacheFromConfig(d.cfg, log)
	if err != nil {
		log.Error("MTA-STS: mta_sts.ca_file unusable; policy hosts are verified with the system's roots only",
			"setting", "mta_sts.ca_file", "file", d.cfg.MTASTS.CAFile, "err", err)
		cfg := *d.cfg
		cfg.MTASTS.CAFile = ""
		c, _ = mtasts.NewCacheFromConfig(&cfg, log)
	}
	if d.metrics != nil {
		d.metrics.Registry.MustRegister(c.Collector())
	}
	return c
}

// stsPeek gives ebb route's relay plan the cached MTA-STS policy only: it
// asks no DNS for it and fetches nothing.
type stsPeek struct{ c *mtasts.Cache }

func (s stsPeek) Get(_ context.Context, domain string) (*mtasts.Policy, error) {
	return s.c.Cached(domain), nil
}
