package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/msgauth"
)

// runDkim is `ebb dkim keygen|list`: the DKIM keys of the hosted domains
// (docs/dkim.md).
func runDkim(e *env) int {
	usage := "ebb dkim keygen DOMAIN [--selector S] [--algorithm ed25519|rsa] [--pending] | list [--json]"
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb dkim "+sub)
	switch sub {
	case "keygen":
		return dkimKeygen(c, args)
	case "list":
		return dkimList(c, args)
	}
	fmt.Fprintln(e.stderr, "usage: "+usage)
	return diag.ExUsage
}

func dkimKeygen(c *adminCmd, args []string) int {
	alg := c.fs.String("algorithm", "ed25519", "ed25519 (RFC 8463) or rsa (2048 bits)")
	sel := c.fs.String("selector", "", "the selector (default: the algorithm and today's date, e.g. ed25519-20261201)")
	pending := c.fs.Bool("pending", false, "write the key as pending: it signs only once renamed to .pem, after its record is published (rotation)")
	if !c.parse(args, 1, 1, "ebb dkim keygen DOMAIN [--selector S] [--algorithm ed25519|rsa] [--pending]") {
		return diag.ExUsage
	}
	cfg, err := loadConfig(c.e, c.cfg)
	if err != nil {
		return diag.ExConfig
	}
	domain := strings.TrimSuffix(strings.ToLower(c.args[0]), ".")
	if domain == "" || strings.ContainsAny(domain, "/ \t@") {
		fmt.Fprintf(c.e.stderr, "%s: %q is not a domain name\n", c.name, c.args[0])
		return diag.ExUsage
	}
	if *sel == "" {
		*sel = fmt.Sprintf("%s-%s", *alg, time.Now().UTC().Format("20060102"))
	}
	if err := msgauth.ValidSelector(*sel); err != nil {
		fmt.Fprintf(c.e.stderr, "%s: %v\n", c.name, err)
		return diag.ExUsage
	}
	key, err := msgauth.GenerateKey(*alg)
	if err != nil {
		fmt.Fprintf(c.e.stderr, "%s: %v\n", c.name, err)
		return diag.ExUsage
	}
	// The daemon, as server.user, reads the key: run as root, the files
	// are given to that user; otherwise they belong to whoever runs this.
	mu, err := mailuser.ForRoot(cfg)
	if err != nil {
		return c.fail(err)
	}
	owner := diag.Self().String()
	if mu != nil {
		owner = mu.Name
	}
	dir := cfg.DKIMKeyDir()
	path, err := msgauth.WriteKey(dir, domain, *sel, key, *pending, mu)
	if err != nil {
		e := diag.PathError(c.name, "create", "write the DKIM key", path, diag.UnwrapPath(err), cfg.DKIMKeyDirSetting())
		if errors.Is(err, os.ErrExist) {
			e.Class, e.Exit = diag.Permanent, diag.ExCantCreat
			e.Hint = "choose another --selector; a selector that was published is never reused"
		}
		return c.fail(e)
	}
	k, err := msgauth.LoadKey(path)
	if err != nil {
		return c.fail(err)
	}
	state := "it signs mail from " + domain + " from now on"
	if *pending {
		state = "pending: it signs once renamed to " + msgauth.KeyPath(dir, domain, *sel, false)
	}
	fmt.Fprintf(c.e.stdout, "DKIM key %s for %s (%s) written to %s (mode 0600, owner %s); %s.\n\n",
		*sel, domain, k.Algorithm, path, owner, state)
	fmt.Fprintf(c.e.stdout, "Publish this TXT record in the zone of %s:\n\n%s\n\nThen check it with: ebb dkim list\n", domain, k.ZoneLine())
	return 0
}

// dkimKeyStatus is one line of ebb dkim list.
type dkimKeyStatus struct {
	Domain    string `json:"domain"`
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	State     string `json:"state"` // signing or pending
	Path      string `json:"path"`
	DNS       string `json:"dns"` // "matches", or why not
	Record    string `json:"record"`
}

func dkimList(c *adminCmd, args []string) int {
	asJSON := c.fs.Bool("json", false, "print JSON")
	if !c.parse(args, 0, 0, "ebb dkim list [--json]") {
		return diag.ExUsage
	}
	cfg, err := loadConfig(c.e, c.cfg)
	if err != nil {
		return diag.ExConfig
	}
	st, err := listDKIMKeys(c.e.ctx, cfg)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		if st == nil {
			st = []dkimKeyStatus{}
		}
		writeJSON(c.e.stdout, st)
		return 0
	}
	if len(st) == 0 {
		fmt.Fprintf(c.e.stdout, "no DKIM keys in %s; make one with: ebb dkim keygen DOMAIN\n", cfg.DKIMKeyDir())
		return 0
	}
	tw := tabwriter.NewWriter(c.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGORITHM\tSTATE\tDNS")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Domain, s.Selector, s.Algorithm, s.State, s.DNS)
	}
	tw.Flush()
	return 0
}

// listDKIMKeys reads every key and asks the configured resolver for its
// record.
func listDKIMKeys(ctx context.Context, cfg *config.Config) ([]dkimKeyStatus, error) {
	dir := cfg.DKIMKeyDir()
	domains, err := msgauth.Domains(dir)
	if err != nil {
		return nil, diag.PathError("ebb dkim list", "open", "read the DKIM key directory", dir, diag.UnwrapPath(err), cfg.DKIMKeyDirSetting())
	}
	res := dnsresolve.New(cfg)
	var out []dkimKeyStatus
	for _, d := range domains {
		keys, err := msgauth.LoadKeys(dir, d)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return out, diag.PathError("ebb dkim list", "read", "read the DKIM key", pe.Path, pe.Err, cfg.DKIMKeyDirSetting())
			}
			return out, err
		}
		for _, k := range keys {
			s := dkimKeyStatus{Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm, State: "signing", Path: k.Path, Record: k.ZoneLine()}
			if k.Pending {
				s.State = "pending"
			}
			lctx, cancel := context.WithTimeout(ctx, cfg.DNS.Timeout.Duration)
			why, err := k.CheckDNS(lctx, res)
			cancel()
			switch {
			case err != nil:
				s.DNS = "no answer: " + err.Error()
			case why != "":
				s.DNS = why
			default:
				s.DNS = "matches"
			}
			out = append(out, s)
		}
	}
	return out, nil
}
