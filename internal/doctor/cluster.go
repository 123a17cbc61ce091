package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// clusterChecks: several hosts on one PostgreSQL directory (docs/scaling.md).
// What the hosts share lives in the database (internal/cluster); doctor
// looks at what each host published about itself and warns about what
// two hosts would still each act on alone.
func clusterChecks() []Check {
	return []Check{
		{Name: "cluster", Run: checkCluster},
		{Name: "mail.delivery_host", Run: checkDeliveryHost},
	}
}

func checkCluster(ctx context.Context, env *Env) []Finding {
	const name = "cluster"
	cfg := env.Cfg
	if !directory.IsPostgresDSN(cfg.Directory.DSN) {
		return []Finding{Passed(name, "", "one host (SQLite directory): Sieve state, AUTH counts and the journal are kept in server.data_dir")}
	}
	if !cfg.Directory.SharedState {
		s := cfg.Setting("directory.shared_state")
		e := diag.New("share", "share state with the other hosts of the directory", "directory.shared_state",
			errors.New("it is off: each host keeps vacation and duplicate records, AUTH failure counts and the journal to itself"))
		e.Setting = s
		e.SetFix(diag.Because("with several hosts on this directory each would answer vacation, count guesses and tell its story alone",
			diag.Set(s, "true"), diag.Restart(s)))
		return []Finding{Warned(name, e)}
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dir, err := directory.OpenForReading(octx, cfg)
	if err != nil {
		return nil // the directory check says why
	}
	defer dir.Close()
	me := cluster.HostName(cfg)
	c, err := cluster.Attach(octx, dir, me)
	if errors.Is(err, cluster.ErrNoTables) {
		return []Finding{Passed(name, dir.Where(), "shared state on; its tables are made when ebb serve first starts")}
	}
	if err != nil {
		return []Finding{Failed(name, diag.From(err, "ebb doctor", "cluster"))}
	}
	hosts, err := c.Hosts(octx)
	if err != nil {
		return []Finding{Failed(name, diag.From(err, "ebb doctor", "cluster"))}
	}
	var live []cluster.Host
	var names []string
	for _, h := range hosts {
		state := "live"
		switch {
		case h.Live:
			live = append(live, h)
		case h.Stopped:
			state = "stopped"
		default:
			state = "gone since " + h.Seen.Local().Format("2006-01-02 15:04")
		}
		names = append(names, h.Name+" ("+state+")")
	}
	out := []Finding{Passed(name, dir.Where(), fmt.Sprintf("%s share Sieve state, AUTH counts, the journal and queue summaries: %s",
		diag.Count(len(hosts), "host"), strings.Join(names, ", ")))}
	accounts, _ := fetchstate.New(dir).FetchAccounts(octx)
	for _, e := range comparedFacts(cfg.Mail.Root, me, live, len(accounts)) {
		out = append(out, Warned(name, e))
	}
	return out
}

// comparedFacts are the warnings about live hosts that disagree on what
// must be alike, or each do alone what several do: me is this host, root
// its mail.root.
func comparedFacts(root, me string, live []cluster.Host, fetchAccounts int) []*diag.Error {
	var out []*diag.Error
	warn := func(subject, reason string, fix *diag.Fix) {
		e := diag.New("compare", "run several hosts as one mail system", "", errors.New(subject+": "+reason))
		e.SetFix(fix)
		out = append(out, e)
	}
	// SRS: one secret, or a bounce to an address rewritten at one host is
	// refused at another.
	srs := map[string][]string{}
	for _, h := range live {
		if h.Facts.SRS != "" {
			srs[h.Facts.SRS] = append(srs[h.Facts.SRS], h.Name)
		}
	}
	if len(srs) > 1 {
		warn("srs.secret_file", "the hosts sign SRS addresses with different secrets ("+groups(srs)+"): a bounce to an address one host rewrote is refused at the others",
			diag.Because("every MX must verify every host's SRS addresses", diag.Say("copy srs.secret_file from one host to the others (same lines, mode 0600, owned by server.user)"),
				diag.Say("restart ebb serve on each")))
	}
	// DKIM: one key per domain and selector (DNS publishes one), and the
	// same keys on every host that signs.
	keys := map[string]map[string][]string{} // "domain selector" → digest → hosts
	signers := 0
	for _, h := range live {
		if len(h.Facts.DKIM) > 0 {
			signers++
		}
		for _, k := range h.Facts.DKIM {
			f := strings.Fields(k)
			if len(f) != 3 {
				continue
			}
			id := f[0] + " " + f[1]
			if keys[id] == nil {
				keys[id] = map[string][]string{}
			}
			keys[id][f[2]] = append(keys[id][f[2]], h.Name)
		}
	}
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		byDigest := keys[id]
		n := 0
		for _, hs := range byDigest {
			n += len(hs)
		}
		dom, sel, _ := strings.Cut(id, " ")
		switch {
		case len(byDigest) > 1:
			warn("dkim.key_dir", fmt.Sprintf("the DKIM key %s of %s differs between hosts (%s): DNS publishes one, so mail signed at the others fails DKIM", sel, dom, groups(byDigest)),
				diag.Steps(diag.Say(fmt.Sprintf("copy %s/%s.pem from the host whose key DNS publishes (ebb dns check %s) to the others", dom, sel, dom))))
		case n < signers:
			warn("dkim.key_dir", fmt.Sprintf("only %s %s the DKIM key %s of %s: mail from %s leaving through the other hosts goes unsigned",
				strings.Join(anyGroup(byDigest), ", "), plural2(n), sel, dom, dom),
				diag.Steps(diag.Say(fmt.Sprintf("copy %s/%s.pem to dkim.key_dir on every host that relays mail out", dom, sel))))
		}
	}
	// ACME: one host per name, or each orders its own certificate.
	byName := map[string][]string{}
	for _, h := range live {
		for _, n := range h.Facts.ACME {
			byName[n] = append(byName[n], h.Name)
		}
	}
	var twice []string
	for n, hs := range byName {
		if len(hs) > 1 {
			twice = append(twice, n+" ("+strings.Join(hs, ", ")+")")
		}
	}
	if len(twice) > 0 {
		sort.Strings(twice)
		warn("acme.names", "several hosts order certificates for the same names: "+strings.Join(twice, "; ")+"; each spends the CA's rate limit, and only the host the name points to can answer an http-01 or tls-alpn-01 challenge",
			diag.Steps(diag.Say("give each host names of its own (acme.names, server.hostname), or use dns-01 (acme.challenges)")))
	}
	// Fetch: without leases every host fetches every account.
	var fetchers, unleased []string
	for _, h := range live {
		if h.Facts.Fetch {
			fetchers = append(fetchers, h.Name)
			if !h.Facts.FetchLeases {
				unleased = append(unleased, h.Name)
			}
		}
	}
	if len(fetchers) > 1 && len(unleased) > 0 && fetchAccounts > 0 {
		warn("fetch.enabled", fmt.Sprintf("%s fetch accounts without leases (%s with fetch.enabled): each fetches every account, and every message arrives once per host",
			strings.Join(unleased, ", "), strings.Join(fetchers, ", ")),
			diag.Steps(diag.Say("set fetch.enabled = false on all hosts but one, or run an ebb that leases fetch accounts on every host")))
	}
	// Limits still counted per host.
	per := map[string][]string{}
	for _, h := range live {
		for _, p := range h.Facts.PerHost {
			per[p] = append(per[p], h.Name)
		}
	}
	if len(live) > 1 {
		for p, hs := range per {
			key, _, _ := strings.Cut(p, " =")
			warn(key, fmt.Sprintf("%s is counted by each host alone (%s): a client gets it once per host", p, strings.Join(hs, ", ")),
				diag.Steps(diag.Say(fmt.Sprintf("divide %s by the number of hosts a client can reach", key))))
		}
	}
	// Maildirs: every host that stores them must write the same storage.
	meStores := false
	for _, h := range live {
		if h.Name == me && h.Facts.DeliveryHost == "" {
			meStores = true
		}
	}
	if meStores {
		for _, h := range live {
			if h.Name == me || h.Facts.DeliveryHost != "" {
				continue
			}
			mark, err := os.ReadFile(filepath.Join(root, cluster.MarkDir, h.Name))
			if err == nil && strings.TrimSpace(string(mark)) == h.Boot {
				continue
			}
			warn(root, fmt.Sprintf("%s stores Maildirs too, but its mail.root is not this host's (%s holds no mark of its run): a mailbox's mail would be split between the hosts", h.Name, filepath.Join(root, cluster.MarkDir)),
				diag.Steps(diag.Say("mount the same storage at mail.root on every host that stores Maildirs (docs/scaling.md), or set mail.delivery_host on all but one")))
		}
	}
	return out
}

// groups says which hosts hold which value: "a, b | c".
func groups(m map[string][]string) string {
	var gs []string
	for _, hs := range m {
		gs = append(gs, strings.Join(hs, ", "))
	}
	sort.Strings(gs)
	return strings.Join(gs, " | ")
}

func anyGroup(m map[string][]string) []string {
	var out []string
	for _, hs := range m {
		out = append(out, hs...)
	}
	sort.Strings(out)
	return out
}

func plural2(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

// checkDeliveryHost greets mail.delivery_host as the relay would: a host
// that relays hosted mail there keeps it queued while it does not answer.
func checkDeliveryHost(ctx context.Context, env *Env) []Finding {
	const name = "mail.delivery_host"
	h := env.Cfg.Mail.DeliveryHost
	if h == "" {
		return nil
	}
	s := env.Cfg.Setting("mail.delivery_host")
	for _, l := range env.Cfg.SMTP.Listen {
		if l == h {
			e := diag.New("route", "relay hosted mail to the delivery host", h, errors.New("it is this host's own SMTP listener (smtp.listen): hosted mail would go round in a loop"))
			e.Setting, e.Class = s, diag.Permanent
			e.SetFix(diag.Because("the delivery host stores Maildirs itself", diag.SetString(s, ""), diag.Restart(s)))
			return []Finding{Failed(name, e)}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", h)
	if err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		var line string
		line, err = bufio.NewReader(conn).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "220") {
			err = fmt.Errorf("it greets with %q, not 220", strings.TrimSpace(line))
		}
		conn.Write([]byte("QUIT\r\n"))
	}
	if err != nil {
		e := diag.New("connect", "reach the delivery host", h, err)
		e.Setting, e.Class = s, diag.Temporary
		e.SetFix(diag.Because("hosted mail waits in this host's queue until it answers",
			diag.Say("start ebb serve on the delivery host, or fix mail.delivery_host (host:port of its SMTP listener)")))
		return []Finding{Warned(name, e)}
	}
	return []Finding{Passed(name, h, "answers 220: hosted mail is relayed there")}
}
