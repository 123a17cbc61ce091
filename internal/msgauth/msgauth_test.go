package msgauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
)

const plainMsg = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\n" +
	"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob.\r\n"

// world is a test DNS server with a resolver on it.
type world struct {
	dns *dnstest.Server
	res *dnsresolve.Client
	dir string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &world{dns: s, res: dnsresolve.NewClientAt(s.Addr(), 2*time.Second), dir: t.TempDir()}
}

// key makes a key of domain and publishes it.
func (w *world) key(t testing.TB, domain, selector, alg string, publish bool) *Key {
	t.Helper()
	sg, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := WriteKey(w.dir, domain, selector, sg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if publish {
		w.dns.MustAdd(k.ZoneLine())
	}
	return k
}

func (w *world) file(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) sign(t testing.TB, msg string) string {
	t.Helper()
	s := &Signer{KeyDir: w.dir}
	sig, err := s.Sign(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (w *world) check(t testing.TB, ip, helo, from, msg string) *Result {
	t.Helper()
	c := &Checker{Resolver: w.res, Percent: func() int { return 50 }}
	return c.Check(context.Background(), Input{IP: net.ParseIP(ip), Helo: helo, MailFrom: from, Path: w.file(t, msg)})
}

func TestSignedMessageVerifiesWithBothAlgorithms(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	w.key(t, "example.org", "rsa1", "rsa", true)
	w.dns.MustAdd(`example.org. TXT "v=spf1 ip4:127.0.0.2 -all"`, `_dmarc.example.org. TXT "v=DMARC1; p=reject"`)
	sig := w.sign(t, plainMsg)
	if n := strings.Count(sig, "DKIM-Signature:"); n != 2 {
		t.Fatalf("want 2 signatures, got %d:\n%s", n, sig)
	}
	for _, want := range []string{"a=ed25519-sha256", "a=rsa-sha256", "c=relaxed/relaxed", "h=From:From:"} {
		if !strings.Contains(strings.ReplaceAll(sig, "\r\n ", ""), want) {
			t.Errorf("signature lacks %q:\n%s", want, sig)
		}
	}
	res := w.check(t, "127.0.0.2", "mx.example.org", "alice@example.org", sig+plainMsg)
	if len(res.DKIM) != 2 || res.DKIM[0].Result != "pass" || res.DKIM[1].Result != "pass" {
		t.Fatalf("dkim: %+v", res.DKIM)
	}
	if res.SPF.Result != "pass" || res.DMARC.Result != "pass" || res.DMARC.Disposition != Accept {
		t.Fatalf("results: %s", res)
	}
	h := res.Header("mx.example.net")
	for _, want := range []string{"Authentication-Results: mx.example.net;\r\n", "spf=pass smtp.mailfrom=example.org",
		"dkim=pass header.a=ed25519-sha256 header.b=", "header.d=example.org header.s=ed1", "dmarc=pass header.from=example.org"} {
		if !strings.Contains(h, want) {
			t.Errorf("header lacks %q:\n%s", want, h)
		}
	}
}

func TestModifiedAfterSigningFails(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	sig := w.sign(t, plainMsg)
	for name, msg := range map[string]string{
		"body":    sig + strings.Replace(plainMsg, "Hello Bob.", "Hello Eve.", 1),
		"subject": sig + strings.Replace(plainMsg, "Subject: hello", "Subject: pay now", 1),
		"from":    sig + "From: mallory@example.org\r\n" + plainMsg, // oversigned From
	} {
		res := w.check(t, "127.0.0.2", "mx", "alice@example.org", msg)
		if len(res.DKIM) != 1 || res.DKIM[0].Result != "fail" {
			t.Errorf("%s: dkim %+v", name, res.DKIM)
		}
	}
	// Relaxed canonicalization: re-folding and trailing white space pass.
	msg := sig + strings.Replace(plainMsg, "Subject: hello", "Subject:  hello ", 1)
	if res := w.check(t, "127.0.0.2", "mx", "alice@example.org", msg); res.DKIM[0].Result != "pass" {
		t.Errorf("relaxed: %+v", res.DKIM)
	}
}

func TestSPFResults(t *testing.T) {
	w := newWorld(t)
	w.dns.MustAdd(
		`pass.test. TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`fail.test. TXT "v=spf1 -all"`,
		`soft.test. TXT "v=spf1 ~all"`,
		`neutral.test. TXT "v=spf1 ?all"`,
		`none.test. A 127.0.0.9`,
	)
	// Eleven includes: past RFC 7208 §4.6.4's ten lookups.
	chain := "v=spf1"
	for i := range 11 {
		chain += fmt.Sprintf(" include:i%d.loop.test", i)
		w.dns.MustAdd(fmt.Sprintf(`i%d.loop.test. TXT "v=spf1 ?all"`, i))
	}
	w.dns.MustAdd(fmt.Sprintf(`loop.test. TXT "%s -all"`, chain))
	w.dns.ServFail("servfail.test.", true)
	for _, c := range []struct{ domain, want string }{
		{"pass.test", "pass"}, {"fail.test", "fail"}, {"soft.test", "softfail"}, {"neutral.test", "neutral"},
		{"none.test", "none"}, {"servfail.test", "temperror"}, {"loop.test", "permerror"},
	} {
		res := w.check(t, "127.0.0.2", "helo.test", "x@"+c.domain, plainMsg)
		if string(res.SPF.Result) != c.want {
			t.Errorf("%s: spf %s (%s), want %s", c.domain, res.SPF.Result, res.SPF.Reason, c.want)
		}
		if h := res.Header("me"); !strings.Contains(h, "spf="+c.want+" ") {
			t.Errorf("%s: header %s", c.domain, h)
		}
	}
	// An address literal in HELO is no identity to check (RFC 7208 §2.3).
	if res := w.check(t, "127.0.0.2", "[127.0.0.2]", "x@pass.test", plainMsg); res.HeloSPF.Result != "none" || res.SPF.Result != "pass" {
		t.Errorf("HELO literal: %s", res)
	}
	// HELO identity, and the null sender checked as postmaster@HELO.
	res := w.check(t, "127.0.0.2", "pass.test", "", plainMsg)
	if res.HeloSPF.Result != "pass" || res.SPF.Result != "pass" || res.SPF.Domain != "pass.test" {
		t.Errorf("null sender: %s", res)
	}
}

func TestDMARCPolicies(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	w.dns.MustAdd(
		`example.org. TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`_dmarc.example.org. TXT "v=DMARC1; p=reject; sp=quarantine"`,
		`_dmarc.half.test. TXT "v=DMARC1; p=reject; pct=40"`,
		`_dmarc.strict.test. TXT "v=DMARC1; p=reject; aspf=s"`,
		`mail.strict.test. TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`_dmarc.none.test. TXT "v=DMARC1; p=none"`,
	)
	w.dns.ServFail("_dmarc.broken.test.", true)
	spoof := func(from string) string { return strings.Replace(plainMsg, "alice@example.org", from, 1) }
	for _, c := range []struct {
		name, ip, mailfrom, msg string
		result                  string
		disp                    Disposition
	}{
		{"spoof from outside", "127.0.0.66", "x@elsewhere.test", plainMsg, "fail", Reject},
		{"spf aligned relaxed", "127.0.0.2", "bounce@example.org", plainMsg, "pass", Accept},
		{"dkim aligned", "127.0.0.66", "x@elsewhere.test", w.sign(t, plainMsg) + plainMsg, "pass", Accept},
		{"subdomain uses sp", "127.0.0.66", "x@elsewhere.test", spoof("a@news.example.org"), "fail", Quarantine},
		{"pct outside the sample", "127.0.0.66", "x@elsewhere.test", spoof("a@half.test"), "fail", Quarantine},
		{"strict spf alignment", "127.0.0.2", "x@mail.strict.test", spoof("a@strict.test"), "fail", Reject},
		{"p=none", "127.0.0.66", "x@elsewhere.test", spoof("a@none.test"), "fail", Accept},
		{"no record", "127.0.0.66", "x@elsewhere.test", spoof("a@norecord.test"), "none", Accept},
		{"dns failure", "127.0.0.66", "x@elsewhere.test", spoof("a@broken.test"), "temperror", Accept},
		{"two From fields, one domain", "127.0.0.2", "bounce@example.org", "From: a@example.org\r\n" + plainMsg, "pass", Accept},
		// RFC 7489 §6.6.1: several From: domains, the strictest policy
		// among them; a From: that cannot be read, every domain found.
		{"two domains in one From:", "127.0.0.66", "x@elsewhere.test", spoof("a@none.test, alice@example.org"), "fail", Reject},
		{"two From fields, two domains", "127.0.0.66", "x@elsewhere.test", "From: a@none.test\r\n" + plainMsg, "fail", Reject},
		{"a domain passing does not hide one failing", "127.0.0.2", "bounce@example.org", spoof("a@example.org, b@strict.test"), "fail", Reject},
		{"no record does not hide a pass", "127.0.0.2", "bounce@example.org", spoof("a@example.org, b@norecord.test"), "none", Accept},
		{"address in the display name", "127.0.0.66", "x@elsewhere.test", spoof("alice@example.org <x@none.test>"), "fail", Reject},
		{"encoded word hiding the address", "127.0.0.66", "x@elsewhere.test", spoof("=?utf-8?q?alice=40example.org?="), "fail", Reject},
		{"windows-1252 display name", "127.0.0.66", "x@elsewhere.test", strings.Replace(plainMsg, "Alice <", "=?windows-1252?q?Gr=FC=DFe?= <", 1), "fail", Reject},
		{"CFWS in the brackets", "127.0.0.66", "x@elsewhere.test", spoof("alice@example.org >"), "fail", Reject},
		{"no From: at all", "127.0.0.2", "bounce@example.org", strings.Replace(plainMsg, "From: Alice <alice@example.org>\r\n", "", 1), "permerror", Reject},
		{"From: below a line that ends the header", "127.0.0.2", "bounce@example.org", "X-A: 1\r\nno field\r\n" + plainMsg, "permerror", Reject},
	} {
		res := w.check(t, c.ip, "helo.test", c.mailfrom, c.msg)
		if res.DMARC.Result != c.result || res.DMARC.Disposition != c.disp {
			t.Errorf("%s: dmarc %s disposition %s (%s), want %s %s", c.name, res.DMARC.Result, res.DMARC.Disposition, res.DMARC.Reason, c.result, c.disp)
		}
	}
}

func TestManySignaturesAreBounded(t *testing.T) {
	w := newWorld(t)
	var sigs strings.Builder
	for i := range 60 {
		k := w.key(t, fmt.Sprintf("d%d.test", i), "s", "ed25519", true)
		s := &Signer{KeyDir: w.dir}
		_ = k
		msg := strings.Replace(plainMsg, "example.org", fmt.Sprintf("d%d.test", i), 1)
		sig, err := s.Sign(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		sigs.WriteString(sig)
	}
	start := time.Now()
	res := w.check(t, "127.0.0.2", "helo.test", "x@d0.test", sigs.String()+plainMsg)
	if len(res.DKIM) != 5 || res.DKIMIgnored != 55 {
		t.Fatalf("verified %d, ignored %d", len(res.DKIM), res.DKIMIgnored)
	}
	lookups := 0
	for i := range 60 {
		lookups += w.dns.Queries(fmt.Sprintf("s._domainkey.d%d.test", i), dns.TypeTXT)
	}
	if lookups > 5 {
		t.Errorf("%d key lookups for 60 signatures, want at most 5", lookups)
	}
	if h := res.Header("me"); !strings.Contains(h, "55 more signatures not verified") {
		t.Errorf("header: %s", h)
	}
	t.Logf("60 signatures checked in %v", time.Since(start))
}

func TestTimeBudgetGivesTemperror(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	sig := w.sign(t, plainMsg)
	w.dns.Delay("ed1._domainkey.example.org.", 1500*time.Millisecond)
	c := &Checker{Resolver: w.res, Timeout: 300 * time.Millisecond}
	start := time.Now()
	res := c.Check(context.Background(), Input{IP: net.ParseIP("127.0.0.2"), Helo: "h", MailFrom: "a@example.org", Path: w.file(t, sig+plainMsg)})
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v with a 300ms budget", d)
	}
	if res.DKIM[0].Result != "temperror" {
		t.Errorf("dkim %+v", res.DKIM)
	}
}

func TestKeyRecordMatches(t *testing.T) {
	w := newWorld(t)
	k := w.key(t, "example.org", "rsa1", "rsa", true)
	txts, err := w.res.LookupTXT(context.Background(), k.RecordName())
	if err != nil {
		t.Fatal(err)
	}
	if why := k.MatchTXT(txts); why != "" {
		t.Errorf("published record does not match: %s", why)
	}
	other := w.key(t, "example.org", "rsa2", "rsa", false)
	if why := other.MatchTXT(txts); !strings.Contains(why, "another public key") {
		t.Errorf("other key: %q", why)
	}
	if why := k.MatchTXT(nil); !strings.Contains(why, "no TXT record") {
		t.Errorf("nothing published: %q", why)
	}
	if _, err := WriteKey(w.dir, "example.org", "rsa1", k.Signer, true, nil); err == nil {
		t.Error("WriteKey overwrote an existing selector")
	}
	st, _ := os.Stat(k.Path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %o", st.Mode().Perm())
	}
}

// Messages signed by dkimpy (testdata/signed/generate.py), with their key
// records: our verdicts on signatures we did not make.
func TestOutsideSignedMessages(t *testing.T) {
	w := newWorld(t)
	zone, err := os.ReadFile("testdata/signed/zone.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(zone)), "\n") {
		w.dns.MustAdd(l)
	}
	verdicts, _ := os.ReadFile("testdata/signed/verdicts.txt")
	n := 0
	for _, l := range strings.Split(string(verdicts), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 2 || strings.HasPrefix(l, "#") {
			continue
		}
		n++
		msg, err := os.ReadFile(filepath.Join("testdata/signed", fs[0]))
		if err != nil {
			t.Fatal(err)
		}
		res := w.check(t, "127.0.0.2", "mx.sender.example", "news@sender.example", string(msg))
		var got []string
		for _, d := range res.DKIM {
			got = append(got, d.Result)
		}
		if strings.Join(got, " ") != strings.Join(fs[1:], " ") {
			t.Errorf("%s: dkim %v, want %v (%+v)", fs[0], got, fs[1:], res.DKIM)
		}
	}
	if n < 7 {
		t.Fatalf("only %d messages in verdicts.txt", n)
	}
}

// Signing and verifying stream the body: allocations stay far below the
// message size (principle 3).
func TestSignAndVerifyStreamTheBody(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB file")
	}
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	p := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(plainMsg)
	line := strings.Repeat("x", 76) + "\r\n"
	chunk := strings.Repeat(line, 1<<14)
	for range (64 << 20) / len(chunk) {
		f.WriteString(chunk)
	}
	f.Close()
	// measure returns the peak of the live heap while fn runs, sampled
	// (churn that the GC takes back does not count: resident memory does).
	// A sample above a quarter of the bound is taken again after a
	// collection: on a loaded machine the GC lags behind the allocations,
	// and the heap holds garbage it would take back; what stays after a
	// collection is what fn holds.
	measure := func(fn func()) uint64 {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		done := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var max uint64
			var m runtime.MemStats
			for {
				select {
				case <-done:
					peak <- max
					return
				case <-time.After(2 * time.Millisecond):
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > base.HeapAlloc && m.HeapAlloc-base.HeapAlloc > max && m.HeapAlloc-base.HeapAlloc > 4<<20 {
						runtime.GC()
						runtime.ReadMemStats(&m)
					}
					if m.HeapAlloc > base.HeapAlloc && m.HeapAlloc-base.HeapAlloc > max {
						max = m.HeapAlloc - base.HeapAlloc
					}
				}
			}
		}()
		fn()
		close(done)
		return <-peak
	}
	var sig string
	alloc := measure(func() {
		f, _ := os.Open(p)
		defer f.Close()
		sig, err = (&Signer{KeyDir: w.dir}).Sign(f)
	})
	if err != nil || sig == "" {
		t.Fatal(err)
	}
	if alloc > 16<<20 {
		t.Errorf("signing 64 MiB: live heap peaked %d MiB above the start", alloc>>20)
	}
	signed := filepath.Join(t.TempDir(), "signed")
	out, _ := os.Create(signed)
	out.WriteString(sig)
	in, _ := os.Open(p)
	io.Copy(out, in)
	in.Close()
	out.Close()
	var res *Result
	alloc = measure(func() {
		c := &Checker{Resolver: w.res}
		res = c.Check(context.Background(), Input{IP: net.ParseIP("127.0.0.2"), Helo: "h", MailFrom: "a@example.org", Path: signed})
	})
	if res.DKIM[0].Result != "pass" {
		t.Errorf("dkim %+v", res.DKIM)
	}
	if alloc > 16<<20 {
		t.Errorf("verifying 64 MiB: live heap peaked %d MiB above the start", alloc>>20)
	}
	t.Logf("verifying 64 MiB: live heap peak %d KiB above the start", alloc>>10)
}

// A body of empty lines is not held in memory by the verifier: past 1 MiB
// of them the signatures are permerror, and the verification ends.
func TestLongBlankRunIsBounded(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	w.key(t, "example.org", "ed2", "ed25519", true)
	msg := plainMsg + strings.Repeat("\r\n", 2<<20) + "end\r\n"
	sig := w.sign(t, msg)
	before := runtime.NumGoroutine()
	res := w.check(t, "127.0.0.2", "h", "a@example.org", sig+msg)
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "permerror" || !strings.Contains(res.DKIM[0].Reason, "empty lines") {
		t.Errorf("dkim %+v", res.DKIM)
	}
	// The verifiers end once the check has returned: wait for them, with
	// a generous bound.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines 10 s after, %d before: the verifiers are stuck", n, before)
	}
	// Below the bound, the same shape verifies.
	msg = plainMsg + strings.Repeat("\r\n", 1000) + "end\r\n"
	sig = w.sign(t, msg)
	if res := w.check(t, "127.0.0.2", "h", "a@example.org", sig+msg); res.DKIM[0].Result != "pass" || res.DKIM[1].Result != "pass" {
		t.Errorf("short run: %+v", res.DKIM)
	}
}

// The cache asks the DNS once per name within its TTL, keeps "not found",
// and never keeps a failure.
func TestCachingResolver(t *testing.T) {
	w := newWorld(t)
	w.dns.MustAdd(`a.test. TXT "x"`)
	w.dns.ServFail("bad.test.", true)
	c := &CachingResolver{R: w.res, TTL: time.Minute}
	ctx := context.Background()
	for range 3 {
		if v, err := c.LookupTXT(ctx, "a.test"); err != nil || len(v) != 1 || v[0] != "x" {
			t.Fatalf("a.test: %v %v", v, err)
		}
		if _, err := c.LookupTXT(ctx, "none.test"); !dnsresolve.IsNotFound(err) {
			t.Fatalf("none.test: %v", err)
		}
		if _, err := c.LookupTXT(ctx, "bad.test"); err == nil || dnsresolve.IsNotFound(err) {
			t.Fatalf("bad.test: %v", err)
		}
	}
	if q := w.dns.Queries("a.test", dns.TypeTXT); q != 1 {
		t.Errorf("a.test asked %d times", q)
	}
	if q := w.dns.Queries("none.test", dns.TypeTXT); q != 1 {
		t.Errorf("none.test asked %d times", q)
	}
	if q := w.dns.Queries("bad.test", dns.TypeTXT); q < 3 {
		t.Errorf("a SERVFAIL was kept: bad.test asked %d times", q)
	}
	c.TTL = 0
	c.LookupTXT(ctx, "a.test")
	if q := w.dns.Queries("a.test", dns.TypeTXT); q != 2 {
		t.Errorf("TTL 0: a.test asked %d times in all", q)
	}
}

// Issue 22: the signer finds the signing domain for every From: DMARC
// can align, whatever the display name's charset or the address's
// syntax; a From: naming two hosted domains is signed for both; and what
// it signs passes DKIM and DMARC at our own checker.
func TestSignerFindsEveryAlignableDomain(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	w.key(t, "two.example", "ed1", "ed25519", true)
	w.dns.MustAdd(`_dmarc.example.org. TXT "v=DMARC1; p=reject"`, `_dmarc.two.example. TXT "v=DMARC1; p=reject"`)
	for _, c := range []struct{ from, domains string }{
		{"=?windows-1252?q?Gr=FC=DFe?= <alice@example.org>", "example.org"},
		{"=?ISO-2022-JP?B?GyRCJTUlcyVXJWsbKEI=?= <alice@example.org>", "example.org"},
		{"=?x-unknown?q?abc?= <alice@example.org>", "example.org"},
		{"<alice@example.org >", "example.org"},
		{"alice @ example . org (Alice)", "example.org"},
		{"<@relay.example:alice@example.org>", "example.org"},
		{`"Alice, \"the\" Boss" <alice@EXAMPLE.ORG.>`, "example.org"},
		{"alice@example.org, bob@two.example", "example.org,two.example"},
		{"news@mail.example.org", "example.org"},
	} {
		msg := strings.Replace(plainMsg, "Alice <alice@example.org>", c.from, 1)
		sig := w.sign(t, msg)
		var ds []string
		for _, d := range strings.Split(strings.ReplaceAll(sig, "\r\n ", ""), "d=")[1:] {
			ds = append(ds, strings.SplitN(d, ";", 2)[0])
		}
		if strings.Join(ds, ",") != c.domains {
			t.Errorf("From: %s: signed for %q, want %q", c.from, ds, c.domains)
			continue
		}
		res := w.check(t, "127.0.0.66", "helo.test", "x@elsewhere.test", sig+msg)
		if res.DMARC.Result != "pass" || len(res.DKIM) != len(ds) {
			t.Errorf("From: %s: %s (%s)", c.from, res, res.DMARC.Reason)
		}
	}
}

// A DMARC evaluation carries what an aggregate report says of it: the
// record used (where it was found, its tags, rua) and whether DKIM and
// SPF each gave an aligned pass, both looked at even when the first
// passes.
func TestDMARCPublishedForReports(t *testing.T) {
	w := newWorld(t)
	w.key(t, "example.org", "ed1", "ed25519", true)
	w.dns.MustAdd(
		`example.org. TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`_dmarc.example.org. TXT "v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=50; fo=1:d; rua=mailto:d@example.org,mailto:x@rep.test!10m"`,
	)
	res := w.check(t, "127.0.0.2", "helo.test", "bounce@example.org", w.sign(t, plainMsg)+plainMsg)
	p := res.DMARC.Published
	if p == nil || p.Domain != "example.org" || p.P != "reject" || p.SP != "quarantine" || p.ADKIM != "s" || p.ASPF != "r" ||
		p.Pct != 50 || p.FO != "1:d" || len(p.RUA) != 2 || p.RUA[1] != "mailto:x@rep.test!10m" {
		t.Errorf("published %+v", p)
	}
	if !res.DMARC.DKIMAligned || !res.DMARC.SPFAligned {
		t.Errorf("aligned dkim %v spf %v", res.DMARC.DKIMAligned, res.DMARC.SPFAligned)
	}
	sub := strings.Replace(plainMsg, "alice@example.org", "a@news.example.org", 1)
	res = w.check(t, "127.0.0.66", "helo.test", "x@elsewhere.test", sub)
	if p := res.DMARC.Published; p == nil || p.Domain != "example.org" || res.DMARC.DKIMAligned || res.DMARC.SPFAligned {
		t.Errorf("subdomain: %+v %v %v", p, res.DMARC.DKIMAligned, res.DMARC.SPFAligned)
	}
	if res := w.check(t, "127.0.0.66", "helo.test", "x@elsewhere.test", strings.Replace(plainMsg, "alice@example.org", "a@none.test", 1)); res.DMARC.Published != nil {
		t.Errorf("no record, yet %+v", res.DMARC.Published)
	}
}
