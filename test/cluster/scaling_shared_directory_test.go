package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Two ebb hosts on one PostgreSQL directory (docs/scaling.md): each has its
// own spool, data directory, mail root and listener. A mailbox added through
// one is accepted and delivered by the other within directory.cache_ttl,
// even though the other had just cached the address as unknown; a mailbox
// disabled through the second is refused by the first.
func TestScalingTwoHostsShareOnePostgreSQLDirectory(t *testing.T) {
	// Not t.Parallel: it bounds cache_ttl's effect in time: alone.
	harness.RequireRoot(t)
	u := harness.Unprivileged(t)
	dsn := harness.SharedPostgres(t).NewDatabase(t)
	const ttl = 2 * time.Second

	type host struct {
		dir, conf, smtp string
		srv             *harness.Serve
	}
	mk := func(name string) *host {
		h := &host{dir: harness.Dir(t)}
		h.conf = filepath.Join(h.dir, "ebb.toml")
		h.smtp = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		conf := harness.ConfHead(name+".example.test", u.Name, h.dir) + fmt.Sprintf(`[smtp]
listen = [%q]
shutdown_timeout = "5s"
[metrics]
listen = ""
[directory]
dsn = %q
cache_ttl = %q
argon2_memory = "8M"
`, h.smtp, dsn, ttl.String())
		if err := os.WriteFile(h.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"data", "mail", "spool"} {
			os.MkdirAll(filepath.Join(h.dir, d), 0o700)
			harness.Chown(t, filepath.Join(h.dir, d), u)
		}
		return h
	}
	a, b := mk("mx1"), mk("mx2")
	harness.EbbAs(t, u, nil, "domain", "add", "-c", a.conf, "example.test")
	for _, h := range []*host{a, b} {
		h.srv = harness.StartServe(t, h.conf, filepath.Join(h.dir, "serve.log"))
		harness.WaitTCP(t, h.smtp, "220", 15*time.Second)
	}
	send := func(h *host, to string) harness.Result {
		return harness.Swaks(t, "--server", h.smtp, "--from", "sender@example.org", "--to", to, "--h-Subject", "via "+h.smtp)
	}
	// mx2 learns that carol is unknown, and caches it.
	if r := send(b, "carol@example.test"); r.Code != 24 || !strings.Contains(r.Stdout, "550 5.1.1") {
		t.Fatalf("mx2 before carol exists: exit %d, want 24 (550 5.1.1)\n%s", r.Code, r.Stdout)
	}
	added := time.Now()
	harness.EbbAs(t, u, nil, "user", "add", "-c", a.conf, "--no-password", "carol@example.test")
	var r harness.Result
	last := func() string { return fmt.Sprintf("last swaks: exit %d\n%s", r.Code, r.Stdout) }
	harness.WaitForSaying(t, fmt.Sprintf("mx2 to accept carol after mx1 added her (cache_ttl %s)", ttl), ttl+3*time.Second-time.Since(added), 200*time.Millisecond,
		func() bool { r = send(b, "carol@example.test"); return r.Code == 0 }, last)
	t.Logf("mx2 accepted carol %s after mx1 added her (cache_ttl %s)", time.Since(added).Round(time.Millisecond), ttl)
	newDir := filepath.Join(b.dir, "mail", "example.test", "carol", "Maildir", "new")
	if !harness.WaitFiles(newDir, 1, 15*time.Second) {
		t.Fatalf("mx2 did not deliver carol's message into its mail root %s\n%s", newDir, b.srv.Log())
	}
	// The other way round: disabled through mx2, refused by mx1.
	if r := send(a, "carol@example.test"); r.Code != 0 {
		t.Fatalf("mx1 refuses carol: %d\n%s", r.Code, r.Stdout)
	}
	harness.EbbAs(t, u, nil, "user", "disable", "-c", b.conf, "carol@example.test")
	disabled := time.Now()
	harness.WaitForSaying(t, fmt.Sprintf("mx1 to refuse carol after mx2 disabled her (cache_ttl %s)", ttl), ttl+3*time.Second-time.Since(disabled), 200*time.Millisecond,
		func() bool { r = send(a, "carol@example.test"); return r.Code == 24 }, last)
}
