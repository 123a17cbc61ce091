package main

import (
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/msgauth"
)

// ebb dkim: the DKIM keys of the hosted domains (docs/dkim.md).
var dkimCmd = &cli.Command{Name: "dkim", Summary: "DKIM keys, the TXT record to publish, and whether DNS matches", Sub: []*cli.Command{
	{Name: "keygen", Args: "DOMAIN", Summary: "make a key for DOMAIN and print the TXT record to publish", Do: dkimKeygen},
	{Name: "list", JSON: true, Summary: "every key, whether it signs, and whether DNS has its record", Do: dkimList},
}}

func dkimKeygen(c *cli.Call) cli.Action {
	alg := c.Flags.String("algorithm", "ed25519", "ed25519 (RFC 8463) or rsa (2048 bits)")
	sel := c.Flags.String("selector", "", "the `SELECTOR` (default: the algorithm and today's date, e.g. ed25519-20261201)")
	pending := c.Flags.Bool("pending", false, "write the key as pending: it signs only once renamed to .pem, after its record is published (rotation)")
	return func(cfg *config.Config) error {
		return msgauth.KeygenFor(c.Stdout, cfg, c.Args[0], *sel, *alg, *pending, time.Now())
	}
}

func dkimList(c *cli.Call) cli.Action {
	return func(cfg *config.Config) error {
		checks, err := msgauth.ListKeys(c.Ctx, cfg, dnsresolve.New(cfg))
		if err == nil {
			c.Print(msgauth.Statuses(checks), func(w io.Writer) { msgauth.WriteKeyTable(w, cfg.DKIMKeyDir(), checks) })
		}
		return err
	}
}
