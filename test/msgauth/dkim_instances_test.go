package msgauth

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/test/harness"
)

// dkimKeygen runs `ebb dkim keygen` as root (it gives the key to the mail
// user) and publishes the TXT record it prints in the test DNS.
func dkimKeygen(t *testing.T, dns *dnstest.Server, conf, domain, selector, alg string) string {
	t.Helper()
	r := harness.Run(t, exec.Command(harness.Ebb(t), "dkim", "keygen", "-c", conf, domain, "--selector", selector, "--algorithm", alg), nil)
	if r.Code != 0 {
		t.Fatalf("ebb dkim keygen: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(l, " IN TXT ") {
			dns.MustAdd(l)
			return l
		}
	}
	t.Fatalf("ebb dkim keygen printed no TXT record:\n%s", r.Stdout)
	return ""
}

// Mail from a hosted domain leaves signed (Ed25519 and RSA) and passes
// DKIM, SPF and DMARC at another instance and at an outside verifier
// (dkimpy); the receiver's Authentication-Results says so, once; doctor
// on the sender finds the published keys; a key whose record is not
// published is a doctor failure.
func TestDKIMTwoInstancesSignAndVerify(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Records: []string{
		// The relay's connections come from 127.0.0.1 on loopback.
		`one.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.one.example. 300 IN TXT "v=DMARC1; p=reject; adkim=s"`}})
	one, two, dns := p.One, p.Two, p.DNS
	dkimKeygen(t, dns, one.Conf, "one.example", "ed1", "ed25519")
	dkimKeygen(t, dns, one.Conf, "one.example", "rsa1", "rsa")

	// keygen as root gave the key to the mail user, mode 0600.
	for _, sel := range []string{"ed1", "rsa1"} {
		p := filepath.Join(one.Dir, "data", "dkim", "one.example", sel+".pem")
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; st.Mode().Perm() != 0o600 || int(uid) != one.Daemon.UID {
			t.Errorf("%s: mode %o uid %d, want 0600 and %s (uid %d)", p, st.Mode().Perm(), uid, one.Daemon.Name, one.Daemon.UID)
		}
	}

	one.Submit("alice@one.example", "bob@two.example", "signed")
	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if n := strings.Count(m, "DKIM-Signature:"); n != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2 (ed25519 and rsa):\n%s", n, m)
	}
	if n := strings.Count(m, "Authentication-Results:"); n != 1 {
		t.Errorf("%d Authentication-Results fields, want 1:\n%s", n, m)
	}
	ar := headerField(m, "Authentication-Results")
	for _, want := range []string{"mx.two.example;", "spf=pass smtp.mailfrom=one.example",
		"dkim=pass header.a=ed25519-sha256", "dkim=pass header.a=rsa-sha256", "header.s=ed1", "header.s=rsa1",
		"dmarc=pass header.from=one.example"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
		}
	}
	t.Logf("at the receiver: %s", ar)
	stored := filepath.Join(t.TempDir(), "signed.eml")
	os.WriteFile(stored, []byte(m), 0o644)
	authresCheck(t, stored) // RFC 8601, by a strict outside parser
	if t.Failed() {
		t.Logf("receiver log:\n%s", harness.Tail(two.Log(), 20))
	}

	// The outside verifier, on the copy as stored.
	cmd := exec.Command("/usr/bin/python3", "testdata/dkimpy_verify.py", dns.Addr())
	cmd.Stdin = bytes.NewReader([]byte(m))
	r := harness.Run(t, cmd, nil)
	t.Logf("dkimpy:\n%s%s", r.Stdout, r.Stderr)
	if r.Code != 0 || strings.Count(r.Stdout, " pass a=") != 2 ||
		!strings.Contains(r.Stdout, "a=ed25519-sha256") || !strings.Contains(r.Stdout, "a=rsa-sha256") {
		t.Errorf("dkimpy does not pass both signatures (exit %d)", r.Code)
	}

	// doctor on the sender: both published keys match; SPF lists this
	// host and DMARC exists (reported).
	d := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "--json", "-c", one.Conf), nil)
	var report struct {
		Findings []struct{ Check, Status, Subject, Message string }
	}
	if err := json.Unmarshal([]byte(d.Stdout), &report); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, d.Stdout)
	}
	got := map[string]int{}
	for _, f := range report.Findings {
		switch {
		case f.Check == "dkim.keys" && f.Status == "ok" && strings.Contains(f.Message, "matches the published record"):
			got["keys"]++
		case f.Check == "auth.dns" && f.Status == "ok" && f.Message == "SPF passes for mx.one.example":
			got["spf"]++
		case f.Check == "auth.dns" && f.Status == "ok" && f.Subject == "_dmarc.one.example":
			got["dmarc"]++
		case f.Check == "dkim.keys" || f.Check == "auth.dns":
			t.Errorf("doctor: %+v", f)
		}
	}
	if got["keys"] != 2 || got["spf"] != 1 || got["dmarc"] != 1 {
		t.Errorf("doctor findings %v, want 2 keys, SPF and DMARC ok:\n%s", got, d.Stdout)
	}
	// A third key whose record is not published: doctor fails and says
	// what to publish.
	r = harness.Run(t, exec.Command(harness.Ebb(t), "dkim", "keygen", "-c", one.Conf, "one.example", "--selector", "ed2"), nil)
	if r.Code != 0 {
		t.Fatalf("keygen: %s", r.Stderr)
	}
	d = harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", one.Conf), nil)
	if d.Code == 0 || !strings.Contains(d.Stdout, "FAIL  dkim.keys") || !strings.Contains(d.Stdout, "ed2._domainkey.one.example") ||
		!strings.Contains(d.Stdout, "publish: ed2._domainkey.one.example. 3600 IN TXT") {
		t.Errorf("doctor with an unpublished key (exit %d):\n%s", d.Code, d.Stdout)
	}
	t.Logf("doctor:\n%s", d.Stdout)

	// A key the mail user cannot read (root's, 0600): doctor names it and
	// its owner and mode; mail from the domain waits in the queue with
	// that reason rather than leaving unsigned.
	ed2 := filepath.Join(one.Dir, "data", "dkim", "one.example", "ed2.pem")
	if err := os.Chown(ed2, 0, 0); err != nil {
		t.Fatal(err)
	}
	d = harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", one.Conf), nil)
	if !strings.Contains(d.Stdout, "cannot read the DKIM key "+ed2) || !strings.Contains(d.Stdout, "root:root 0600") {
		t.Errorf("doctor with an unreadable key:\n%s", d.Stdout)
	}
	one.Submit("alice@one.example", "bob@two.example", "unreadable key")
	q := one.WaitMailq(15*time.Second, "DKIM key", ed2)
	t.Logf("mailq:\n%s", q)
	l := harness.Run(t, exec.Command(harness.Ebb(t), "dkim", "list", "-c", one.Conf), nil)
	if !strings.Contains(l.Stdout, "no TXT record is published at ed2._domainkey.one.example") || strings.Count(l.Stdout, "matches") != 2 {
		t.Errorf("dkim list:\n%s", l.Stdout)
	}
}

// headerField returns the named field of a stored message, unfolded.
func headerField(msg, name string) string {
	head, _, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	var out []string
	in := false
	for _, l := range strings.Split(head, "\n") {
		switch {
		case strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":"):
			in = true
			out = append(out, l)
		case in && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")):
			out[len(out)-1] += " " + strings.TrimSpace(l)
		default:
			in = false
		}
	}
	return strings.Join(out, "\n")
}
