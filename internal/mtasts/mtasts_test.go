package mtasts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/servetest"
)

func TestParsePolicy(t *testing.T) {
	cases := []struct {
		name, body string
		want       *Policy // nil: an error
	}{
		{"the RFC 8461 example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			&Policy{Mode: Enforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"LF line ends and spaces are accepted", "version:STSv1\nmode:   testing\nmx: MX.Example.NET.\nmax_age: 86400", &Policy{Mode: Testing, MX: []string{"mx.example.net"}, MaxAge: 24 * time.Hour}},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", &Policy{Mode: None, MaxAge: 0}},
		{"unknown keys are ignored", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfuture: x\n", &Policy{Mode: Enforce, MX: []string{"a.example"}, MaxAge: time.Second}},
		{"another version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", nil},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", nil},
		{"a bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", nil},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", nil},
		{"max_age too large", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", nil},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", nil},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", nil},
		{"a wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", nil},
		{"a line without colon", "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", nil},
		{"HTML instead of a policy", "<html><body>Not found</body></html>", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.body)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || strings.Join(p.MX, ",") != strings.Join(tc.want.MX, ",") {
				t.Fatalf("got %+v, want %+v", p, tc.want)
			}
		})
	}
}

func TestParseTXT(t *testing.T) {
	cases := []struct {
		name    string
		records []string
		id      string // "" means an error
	}{
		{"the RFC example", []string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z"},
		{"without the last semicolon", []string{"v=STSv1; id=abc"}, "abc"},
		{"other TXT records are ignored", []string{"v=spf1 -all", "v=STSv1; id=x1"}, "x1"},
		{"two STS records: none", []string{"v=STSv1; id=a", "v=STSv1; id=b"}, ""},
		{"no id", []string{"v=STSv1;"}, ""},
		{"an id with a dash", []string{"v=STSv1; id=a-b"}, ""},
		{"an id too long", []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, ""},
		{"a record not starting with v=STSv1", []string{"id=a; v=STSv1"}, ""},
		{"nothing", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := ParseTXT(tc.records)
			if id != tc.id || (tc.id == "") != (err != nil) {
				t.Fatalf("ParseTXT(%q) = %q, %v; want %q", tc.records, id, err, tc.id)
			}
		})
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Add("version: STSv1\nmode: testing\nmx: a\nmax_age: 31557600")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParsePolicy(body)
		if err != nil {
			return
		}
		if p.Mode != Enforce && p.Mode != Testing && p.Mode != None {
			t.Fatalf("mode %q accepted", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > maxMaxAge*time.Second {
			t.Fatalf("max_age %v accepted", p.MaxAge)
		}
		if p.Mode != None && len(p.MX) == 0 {
			t.Fatal("no mx accepted")
		}
		for _, mx := range p.MX {
			if !validPattern(mx) || strings.ContainsAny(mx, " \r\n:") {
				t.Fatalf("mx %q accepted", mx)
			}
			p.Matches(mx) // must not panic
		}
	})
}

// policyHost is mta-sts.example.net on loopback: HTTPS with a certificate
// from a test CA, the policy and its content type set by the test.
type policyHost struct {
	mu       sync.Mutex
	body     string
	ctype    string
	status   int
	location string
	hits     atomic.Int32
	port     int
	pool     *x509.CertPool
}

func (h *policyHost) set(body string) {
	h.mu.Lock()
	h.body, h.ctype, h.status, h.location = body, "text/plain", 200, ""
	h.mu.Unlock()
}

func startPolicyHost(t *testing.T, certName string) *policyHost {
	t.Helper()
	ca := servetest.NewCA(t)
	h := &policyHost{pool: ca.Pool()}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, certName)}})
	if err != nil {
		t.Fatal(err)
	}
	h.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		if h.location != "" {
			w.Header().Set("Location", h.location)
		}
		w.Header().Set("Content-Type", h.ctype)
		w.WriteHeader(h.status)
		w.Write([]byte(h.body))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return h
}

func newTestCache(t *testing.T, dns *dnstest.Server, h *policyHost, dir string, clk *servetest.Clock) *Cache {
	return NewCache(Options{Resolver: dnsresolve.NewAt(dns.Addr(), time.Second), Dir: dir, Timeout: 3 * time.Second,
		RootCAs: h.pool, Port: h.port, Recheck: time.Minute, Now: clk.Now})
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 86400\r\n"

func TestCacheFetchesKeepsAndRefreshes(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	h := startPolicyHost(t, "mta-sts.example.net")
	h.set(enforcePolicy)
	dns.MustAdd(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=one"`, "mta-sts.example.net. 300 IN A 127.0.0.1")
	dir := t.TempDir()
	clk := servetest.NewClock(time.Now())
	c := newTestCache(t, dns, h, dir, clk)
	ctx := context.Background()

	p, err := c.Get(ctx, "Example.NET.")
	if err != nil || p == nil || p.Mode != Enforce || p.ID != "one" || !p.Matches("mx.example.net") || p.Matches("evil.example.org") {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	// Within the recheck interval: no DNS, no HTTPS.
	q0, h0 := dns.Queries("_mta-sts.example.net.", 16), h.hits.Load()
	c.Get(ctx, "example.net")
	if dns.Queries("_mta-sts.example.net.", 16) != q0 || h.hits.Load() != h0 {
		t.Fatal("asked again within the recheck interval")
	}
	// The same id after the interval: the TXT is asked, the policy is not fetched.
	clk.Add(2 * time.Minute)
	c.Get(ctx, "example.net")
	if dns.Queries("_mta-sts.example.net.", 16) == q0 || h.hits.Load() != h0 {
		t.Fatalf("same id: TXT %d→%d, fetches %d→%d", q0, dns.Queries("_mta-sts.example.net.", 16), h0, h.hits.Load())
	}
	// A new id: fetched again.
	dns.Remove("_mta-sts.example.net.", 16)
	dns.MustAdd(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=two"`)
	h.set("version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 86400\n")
	clk.Add(2 * time.Minute)
	if p, err := c.Get(ctx, "example.net"); err != nil || p.ID != "two" || p.Mode != Testing {
		t.Fatalf("after the id changed: %+v, %v", p, err)
	}
	// A new id whose fetch fails: the cached policy stays.
	dns.Remove("_mta-sts.example.net.", 16)
	dns.MustAdd(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=three"`)
	h.mu.Lock()
	h.status = 500
	h.mu.Unlock()
	clk.Add(2 * time.Minute)
	if p, err := c.Get(ctx, "example.net"); err != nil || p == nil || p.ID != "two" {
		t.Fatalf("failed refresh: %+v, %v", p, err)
	}
	// The TXT record gone: the policy stays until max_age (RFC 8461 §5.1).
	dns.Remove("_mta-sts.example.net.", 16)
	clk.Add(2 * time.Minute)
	if p, _ := c.Get(ctx, "example.net"); p == nil || p.ID != "two" {
		t.Fatalf("without TXT before max_age: %+v", p)
	}
	// fetched: "one", "two"; the rest kept the cached policy.
	if f, k := count(c, "fetched"), count(c, "cached"); f != 2 || k != 3 {
		t.Errorf("lookups: %v fetched, %v cached; want 2 and 3", f, k)
	}
	// A restart: the policy comes from the disk, without a fetch.
	h0 = h.hits.Load()
	c2 := newTestCache(t, dns, h, dir, clk)
	if p, _ := c2.Get(ctx, "example.net"); p == nil || p.ID != "two" || h.hits.Load() != h0 {
		t.Fatalf("after a restart: %+v (fetches %d→%d)", p, h0, h.hits.Load())
	}
	// max_age passed without TXT: no policy any more.
	clk.Add(25 * time.Hour)
	if p, err := c2.Get(ctx, "example.net"); p != nil || err != nil {
		t.Fatalf("after max_age: %+v, %v", p, err)
	}
}

func TestCacheRefusesWhatRFC8461Refuses(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	h := startPolicyHost(t, "mta-sts.example.net")
	dns.MustAdd(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=one"`, "mta-sts.example.net. 300 IN A 127.0.0.1",
		`_mta-sts.wrongname.example. 300 IN TXT "v=STSv1; id=one"`, "mta-sts.wrongname.example. 300 IN A 127.0.0.1")
	ctx := context.Background()
	for _, tc := range []struct {
		name, domain string
		prep         func()
		want         string
	}{
		{"a redirect is not followed", "example.net", func() {
			h.set(enforcePolicy)
			h.mu.Lock()
			h.status, h.location = 302, "https://elsewhere.example/x"
			h.mu.Unlock()
		}, "not followed"},
		{"text/html is not a policy", "example.net", func() { h.set(enforcePolicy); h.mu.Lock(); h.ctype = "text/html"; h.mu.Unlock() }, "text/plain"},
		{"a policy too large", "example.net", func() { h.set(enforcePolicy + strings.Repeat("x: y\n", MaxPolicySize/5+10)) }, "larger than"},
		{"a certificate for another name", "wrongname.example", func() { h.set(enforcePolicy) }, "certificate"},
		{"a bad policy", "example.net", func() { h.set("version: STSv1\nmode: enforce\nmax_age: 1\n") }, "without any mx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prep()
			c := newTestCache(t, dns, h, t.TempDir(), servetest.NewClock(time.Now()))
			p, err := c.Get(ctx, tc.domain)
			if p != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Get = %+v, %v; want an error saying %q", p, err, tc.want)
			}
		})
	}
	// No TXT record: no policy, no error, no fetch.
	c := newTestCache(t, dns, h, t.TempDir(), servetest.NewClock(time.Now()))
	h0 := h.hits.Load()
	if p, err := c.Get(ctx, "nosts.example"); p != nil || err != nil || h.hits.Load() != h0 {
		t.Fatalf("no TXT: %+v, %v", p, err)
	}
	// SERVFAIL with nothing cached: an error (the relay goes on without).
	dns.ServFail("_mta-sts.broken.example.", true)
	if p, err := c.Get(ctx, "broken.example"); p != nil || err == nil {
		t.Fatalf("SERVFAIL: %+v, %v", p, err)
	}
}

func FuzzParseTXT(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;", "v=spf1 -all")
	f.Add("v=STSv1;id=a;id=b", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		id, err := ParseTXT([]string{a, b})
		if err == nil && (id == "" || len(id) > 32 || strings.ContainsAny(id, " ;=\r\n")) {
			t.Fatalf("ParseTXT(%q, %q) = %q", a, b, id)
		}
	})
}

func count(c *Cache, result string) float64 {
	var m dto.Metric
	c.lookups.WithLabelValues(result).Write(&m)
	return m.GetCounter().GetValue()
}

// Past maxDomains the cache forgets the domains without a policy, never
// one with a policy.
func TestCacheForgetsDomainsWithoutPolicy(t *testing.T) {
	c := NewCache(Options{})
	c.domains["with.example"] = &domainEntry{pol: &Policy{Domain: "with.example", Mode: Enforce}}
	for i := 0; i < 10; i++ {
		c.domains[fmt.Sprintf("d%d.example", i)] = &domainEntry{loaded: true}
	}
	c.mu.Lock()
	c.shrinkLocked()
	c.mu.Unlock()
	if len(c.domains) != 1 || c.domains["with.example"] == nil {
		t.Fatalf("after shrinking: %d domains", len(c.domains))
	}
}

// A policy that cannot be kept on disk stays in memory, and the log says
// so, whether the directory or the file write failed (a shadowed err once
// let a failed write pass in silence).
func TestCacheStoreFailureIsLogged(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		prepare   func(dir string)
	}{
		{"the directory cannot be made", filepath.Join(notDir, "mta-sts"), func(string) {}},
		// A directory where the policy's file goes: the write's rename
		// fails, as root too.
		{"the file cannot be written", filepath.Join(base, "cache"), func(dir string) {
			os.MkdirAll(filepath.Join(dir, "example.net.json"), 0o700)
		}},
		{"written", filepath.Join(base, "ok"), func(string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare(tc.dir)
			var log bytes.Buffer
			c := NewCache(Options{Dir: tc.dir, Log: slog.New(slog.NewTextHandler(&log, nil))})
			c.store(&Policy{Domain: "example.net", Mode: Enforce, MaxAge: time.Hour, Fetched: time.Now()})
			logged := strings.Contains(log.String(), "cannot keep the policy on disk") && strings.Contains(log.String(), "domain=example.net")
			_, err := os.ReadFile(filepath.Join(tc.dir, "example.net.json"))
			if tc.name == "written" {
				if err != nil || logged {
					t.Errorf("a policy that could be written: read %v, log %q", err, log.String())
				}
				return
			}
			if !logged {
				t.Errorf("the failure is not logged: %q", log.String())
			}
		})
	}
}
