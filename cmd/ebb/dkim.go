package main

import (
	"fmt"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/msgauth"
)

// ebb dkim: the DKIM keys of the hosted domains (docs/dkim.md).
var dkimCmd = &cli.Command{Name: "dkim", Summary: "DKIM keys, the TXT record to publish, and whether DNS matches", Sub: []*cli.Command{
	{Name: "keygen", Args: "DOMAIN", Summary: "make a key for DOMAIN and print the TXT record to publish", Run: dkimKeygen},
	{Name: "list", Summary: "every key, whether it signs, and whether DNS has its record", Run: dkimList},
}}

func dkimKeygen(c *cli.Call) int {
	alg := c.Flags.String("algorithm", "ed25519", "ed25519 (RFC 8463) or rsa (2048 bits)")
	sel := c.Flags.String("selector", "", "the `SELECTOR` (default: the algorithm and today's date, e.g. ed25519-20261201)")
	pending := c.Flags.Bool("pending", false, "write the key as pending: it signs only once renamed to .pem, after its record is published (rotation)")
	cfg, code := c.ParseConfig(1, 1)
	if cfg == nil {
		return code
	}
	// The daemon, as server.user, reads the key: run as root, the files
	// are given to that user; otherwise they belong to whoever runs this.
	owner, err := mailuser.ForRoot(cfg)
	if err != nil {
		return c.Fail(err)
	}
	dir := cfg.DKIMKeyDir()
	k, err := msgauth.Keygen(dir, cfg.DKIMKeyDirSetting(), c.Args[0], *sel, *alg, *pending, owner, time.Now())
	if err != nil {
		return c.Fail(err)
	}
	msgauth.WriteKeygen(c.Stdout, k, dir, owner, *pending)
	return 0
}

func dkimList(c *cli.Call) int {
	asJSON := jsonFlag(c)
	cfg, code := c.ParseConfig(0, 0)
	if cfg == nil {
		return code
	}
	dir := cfg.DKIMKeyDir()
	checks, err := msgauth.CheckKeys(c.Ctx, dir, cfg.DKIMKeyDirSetting(), dnsresolve.New(cfg), cfg.DNS.Timeout.Duration)
	if err != nil {
		return c.Fail(err)
	}
	for _, ch := range checks {
		if ch.LoadErr != nil {
			return c.Fail(ch.LoadErr)
		}
	}
	switch {
	case *asJSON:
		c.JSON(msgauth.Statuses(checks))
	case len(checks) == 0:
		fmt.Fprintf(c.Stdout, "no DKIM keys in %s; make one with: ebb dkim keygen DOMAIN\n", dir)
	default:
		msgauth.WriteKeyTable(c.Stdout, checks)
	}
	return 0
}
