package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/srs"
	"github.com/ebbmail/ebb/test/harness"
)

// ebb route (issue 15): what would happen to a message, against the real
// binary, its directory, Sieve, clamd and a loopback DNS server. After
// every run the spool, the Maildirs and the data directory (Sieve's
// vacation and duplicate state, the scanners' breaker file) are exactly as
// before: route decides, it never does.
func TestRoute(t *testing.T) {
	t.Parallel()
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	dns.MustAdd(
		"remote.example. 300 IN MX 20 mx2.remote.example.",
		"remote.example. 300 IN MX 10 mx1.remote.example.",
		"remote.example. 300 IN MX 30 mx3.remote.example.",
	)
	// secure.example has a cached MTA-STS policy in enforce mode that
	// lists only its first MX.
	dns.MustAdd(
		"secure.example. 300 IN MX 10 mx1.secure.example.",
		"secure.example. 300 IN MX 20 mx.elsewhere.example.",
	)
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	e := harness.NewQueueEnv(t, fmt.Sprintf("\n[dns]\nresolver = %q\ntimeout = \"2s\"\n\n[scan.clamd]\naddress = %q\n", dns.Addr(), cl.Addr))

	// bob can log in (route's --auth needs an account with a password, as
	// AUTH does); carol has none.
	e.EbbAsUser([]byte("bob-pw\n"), "user", "passwd", "-c", e.Conf, "bob@example.test")
	bob := e.Maildir("bob")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(bob, sub), 0o700)
	}
	script := `require ["fileinto", "mailbox", "vacation", "duplicate"];
if duplicate { discard; stop; }
if header :contains "subject" "report" { fileinto :create "Reports"; }
if allof (header :contains "subject" "scanned", header :contains "x-ebb-scan" "clamd=clean") { fileinto "Scanned"; }
vacation :days 1 "I am away until Monday.";
`
	os.WriteFile(filepath.Join(filepath.Dir(bob), ".dovecot.sieve"), []byte(script), 0o644)
	harness.Chown(t, e.Mail, e.User)
	sts := filepath.Join(e.Dir, "data", "mta-sts")
	os.MkdirAll(sts, 0o700)
	pol := fmt.Sprintf(`{"domain":"secure.example","id":"20261201","mode":"enforce","mx":["mx1.secure.example"],"max_age":%d,"fetched":%q}`,
		int64(24*time.Hour), time.Now().UTC().Format(time.RFC3339))
	os.WriteFile(filepath.Join(sts, "secure.example.json"), []byte(pol), 0o600)
	// stsbad.example's cached enforce policy lists none of its MX hosts.
	dns.MustAdd("stsbad.example. 300 IN MX 10 mx.stsbad.example.")
	pol = fmt.Sprintf(`{"domain":"stsbad.example","id":"20261201","mode":"enforce","mx":["*.other.example"],"max_age":%d,"fetched":%q}`,
		int64(24*time.Hour), time.Now().UTC().Format(time.RFC3339))
	os.WriteFile(filepath.Join(sts, "stsbad.example.json"), []byte(pol), 0o600)
	harness.Chown(t, sts, e.User)

	msg := func(name, subject, body string) string {
		p := filepath.Join(e.Dir, name)
		data := "From: Alice <alice@example.org>\r\nTo: bob@example.test\r\nSubject: " + subject +
			"\r\nMessage-ID: <" + name + "@example.org>\r\n\r\n" + body + "\r\n"
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	report := msg("report.eml", "weekly report", "Numbers attached.")
	virus := msg("virus.eml", "look", harness.EICAR())
	scanned := msg("scanned.eml", "scanned", "Clean.")

	watched := []string{e.Spool, e.Mail, filepath.Join(e.Dir, "data")}
	route := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		before := snapshot(t, watched)
		// As the mail user, the way an admin would run it with sudo -u.
		r := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), append([]string{"route", "-c", e.Conf}, args...)...), e.User), nil)
		if r.Code != want {
			t.Fatalf("ebb route %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.Code, want, r.Stdout, r.Stderr)
		}
		if after := snapshot(t, watched); after != before {
			t.Fatalf("ebb route changed files:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if r.Stderr != "" {
			t.Logf("ebb route's log:\n%s", r.Stderr)
		}
		return r.Stdout
	}
	has := func(t *testing.T, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("route output lacks %q:\n%s", w, out)
			}
		}
	}

	t.Run("an unknown user gets 550 at RCPT", func(t *testing.T) {
		out := route(t, 67, "--from", "alice@example.org", "--to", "nobody@example.test")
		has(t, out, "mail     <alice@example.org> 250", "rcpt     <nobody@example.test> 550 5.1.1 <nobody@example.test>: no such user here")
		if strings.Contains(out, "data ") {
			t.Errorf("route went on past a refused only recipient:\n%s", out)
		}
	})

	t.Run("a relay attempt from outside is refused", func(t *testing.T) {
		out := route(t, 77, "--client-ip", "127.0.0.2", "--from", "alice@example.org", "--to", "carol@remote.example")
		has(t, out, "rcpt     <carol@remote.example> 554 5.7.1 Relay access denied: remote.example is not a domain hosted here")
		// Submission without a login is refused at MAIL.
		out = route(t, 77, "--port", "587", "--client-ip", "192.0.2.7", "--from", "alice@example.org", "--to", "carol@remote.example")
		has(t, out, "mail     <alice@example.org> 530 5.7.0 Authentication required")
		// --auth names an account that does not exist: AUTH would fail.
		out = route(t, 77, "--port", "587", "--auth", "nobody@example.test", "--from", "nobody@example.test", "--to", "carol@remote.example")
		has(t, out, "auth     <nobody@example.test> 535 5.7.8")
		// An account without a password cannot log in: AUTH refuses it.
		out = route(t, 77, "--port", "587", "--auth", "carol@example.test", "--from", "carol@example.test", "--to", "carol@remote.example")
		has(t, out, "auth     <carol@example.test> 535 5.7.8", "no password")
		// The session takes the mailbox's own address, as AUTH does.
		out = route(t, 0, "--port", "587", "--auth", "Bob@Example.TEST", "--from", "bob@example.test", "--to", "carol@remote.example")
		has(t, out, "auth     <Bob@Example.TEST> 235 2.7.0 taken as logged in as bob@example.test")
	})

	t.Run("a logged-in user writing another's From: is refused after DATA, as in ebb serve", func(t *testing.T) {
		out := route(t, 77, "--port", "587", "--auth", "bob@example.test", "--from", "bob@example.test", "--to", "carol@remote.example", report)
		has(t, out, `550 5.7.1 From: <alice@example.org> is not an address of bob@example.test: write your own address in From: (submission.sender_policy = "own")`)
	})

	t.Run("RCPT TO:<Postmaster> without a domain is the host's postmaster, as in ebb serve", func(t *testing.T) {
		// Here example.test has no postmaster and directory.postmaster is
		// not set: refused as ebb serve refuses it (ebb doctor warns).
		out := route(t, 67, "--from", "alice@example.org", "--to", "Postmaster", report)
		has(t, out, "rcpt     <postmaster@example.test> 550 5.1.1")
	})

	t.Run("Sieve files into a folder, nothing delivered, no vacation state", func(t *testing.T) {
		out := route(t, 0, "--from", "alice@example.org", "--to", "bob@example.test", report)
		has(t, out,
			"rcpt     <bob@example.test> 250",
			"check    loop: passed",
			"check    auth: passed, adds Authentication-Results: mx.example.test;",
			"check    scan: passed",
			"resolve  <bob@example.test> mailboxes bob@example.test",
			fmt.Sprintf("maildir  <bob@example.test> %s (%s:%s 0700)", bob, e.User.Name, e.User.Name),
			"sieve    <bob@example.test> fileinto Reports; vacation reply to alice@example.org (would be sent; not sent, not remembered)",
			fmt.Sprintf("folder   <bob@example.test> Reports → %s/.Reports/new/; would be created (fileinto :create)", bob),
		)
		if strings.Contains(out, "INBOX") {
			t.Errorf("the report would go to INBOX too:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(bob, ".Reports")); err == nil {
			t.Error("route created the folder of fileinto :create")
		}
		// Sieve sees the checks' header lines, as the stored copy has them.
		out = route(t, 0, "--from", "alice@example.org", "--to", "bob@example.test", scanned)
		has(t, out, "sieve    <bob@example.test> fileinto Scanned;", fmt.Sprintf("Scanned → %s/.Scanned/new/", bob))
		// The same run twice: the duplicate id was not remembered, or the
		// second run would discard it.
		out = route(t, 0, "--from", "alice@example.org", "--to", "bob@example.test", report)
		has(t, out, "fileinto Reports")
		// Without Sieve's fileinto, INBOX; as JSON for tools.
		out = route(t, 0, "--json", "--from", "alice@example.org", "--to", "bob@example.test")
		var j struct {
			Steps []struct{ Step, Path, Owner, Mode string }
			Exit  int
		}
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		var folder string
		for _, s := range j.Steps {
			if s.Step == "folder" {
				folder = s.Path + " " + s.Owner + " " + s.Mode
			}
		}
		if want := bob + " " + e.User.Name + ":" + e.User.Name + " 0700"; folder != want || j.Exit != 0 {
			t.Errorf("--json folder %q exit %d, want %q exit 0\n%s", folder, j.Exit, want, out)
		}
	})

	t.Run("a Maildir the mail user cannot write is named with its owner and mode", func(t *testing.T) {
		carol := e.Maildir("carol")
		for _, sub := range []string{"tmp", "new", "cur"} {
			os.MkdirAll(filepath.Join(carol, sub), 0o755)
		}
		harness.Chown(t, e.Mail, e.User)
		os.Chown(filepath.Join(carol, "tmp"), 0, 0)
		out := route(t, 75, "--from", "alice@example.org", "--to", "carol@example.test")
		// diag's own error for server.user, with diag's fix (a chown of
		// this Maildir, made by root for the mail user; never of a
		// shared path).
		has(t, out, fmt.Sprintf("delivery would fail: ebb serve: cannot create a file in %s/tmp: permission denied (running as uid %d %s;",
			carol, e.User.UID, e.User.Name), "the directory is root:root 0755", "Fix: run: chown ")
		// The same for new/, where the delivery links the message.
		os.Chown(filepath.Join(carol, "tmp"), e.User.UID, e.User.GID)
		os.Chown(filepath.Join(carol, "new"), 0, 0)
		out = route(t, 75, "--from", "alice@example.org", "--to", "carol@example.test")
		has(t, out, fmt.Sprintf("delivery would fail: ebb serve: cannot link the message into %s/new: permission denied", carol))
		os.Chown(filepath.Join(carol, "new"), e.User.UID, e.User.GID)
	})

	t.Run("a message over smtp.max_message_size is refused with 552", func(t *testing.T) {
		b, _ := os.ReadFile(e.Conf)
		small := filepath.Join(e.Dir, "small.toml")
		os.WriteFile(small, []byte(strings.Replace(string(b), "[smtp]\n", "[smtp]\nmax_message_size = \"100\"\n", 1)), 0o644)
		out := route(t, 65, "-c", small, "--from", "alice@example.org", "--to", "bob@example.test", report)
		has(t, out, "size     552 5.3.4 message of ", "exceeds smtp.max_message_size (100 bytes)")
		if strings.Contains(out, "check ") {
			t.Errorf("checks ran on a message too big:\n%s", out)
		}
	})

	t.Run("a virus is refused with clamd's verdict", func(t *testing.T) {
		out := route(t, 77, "--from", "alice@example.org", "--to", "bob@example.test", virus)
		has(t, out, "check    554 5.7.1", "Eicar-Test-Signature")
		if strings.Contains(out, "folder ") {
			t.Errorf("a refused message still has a folder:\n%s", out)
		}
	})

	t.Run("a remote recipient gets its MX hosts in order", func(t *testing.T) {
		out := route(t, 0, "--port", "587", "--auth", "bob@example.test", "--from", "bob@example.test", "--to", "carol@remote.example")
		has(t, out,
			"auth     <bob@example.test> 235",
			"rcpt     <carol@remote.example> 250",
			"route    <carol@remote.example> remote: MX of remote.example, TLS may (relay.tls), MTA-STS",
			"mx       <carol@remote.example> 1. mx1.remote.example (preference 10)",
			"mx       <carol@remote.example> 2. mx2.remote.example (preference 20)",
			"mx       <carol@remote.example> 3. mx3.remote.example (preference 30)",
		)
		// An alias to a remote address: the forward and its MX hosts.
		e.EbbAsUser(nil, "alias", "add", "-c", e.Conf, "fwd@example.test", "carol@remote.example")
		out = route(t, 0, "--from", "alice@example.org", "--to", "fwd@example.test")
		has(t, out,
			"rcpt     <fwd@example.test> 250",
			"resolve  <fwd@example.test> forwards to carol@remote.example (through fwd@example.test → carol@remote.example)",
			"forward  <fwd@example.test> a copy would be queued for carol@remote.example",
			"mx       <carol@remote.example> 1. mx1.remote.example (preference 10)",
		)
		// MTA-STS enforce from the cache: verified TLS, and the MX the
		// policy does not list is not used. Nothing is fetched.
		out = route(t, 0, "--port", "587", "--auth", "bob@example.test", "--from", "bob@example.test", "--to", "dave@secure.example")
		has(t, out,
			"route    <dave@secure.example> remote: MX of secure.example, TLS verify (MTA-STS), MTA-STS enforce (mx mx1.secure.example; the cached policy of",
			"mx       <dave@secure.example> 1. mx1.secure.example (preference 10)\n",
			"mx       <dave@secure.example> 2. mx.elsewhere.example (preference 20) — skipped: not in the MTA-STS policy",
		)
		if n := dns.Queries("_mta-sts.secure.example.", dnsTypeTXT); n != 0 {
			t.Errorf("route asked DNS for the MTA-STS record %d times", n)
		}
	})

	// What the relay meets before connecting is a failure in route too
	// (it once showed these as deliverable, exit 0).
	t.Run("a remote domain delivery would fail for is a failure", func(t *testing.T) {
		// MTA-STS enforce listing none of the MX hosts: the relay defers.
		out := route(t, 75, "--port", "587", "--auth", "bob@example.test", "--from", "bob@example.test", "--to", "erin@stsbad.example")
		has(t, out,
			"mx       <erin@stsbad.example> 1. mx.stsbad.example (preference 10) — skipped: not in the MTA-STS policy",
			"mx       <erin@stsbad.example> delivery would fail: MTA-STS policy of stsbad.example (mode enforce) allows mx *.other.example; none of its MX hosts mx.stsbad.example matches",
		)
		// No MX and no such name (NXDOMAIN from the test DNS): permanent.
		out = route(t, 68, "--port", "587", "--auth", "bob@example.test", "--from", "bob@example.test", "--to", "frank@nxdomain.example")
		has(t, out,
			"mx       <frank@nxdomain.example> 1. nxdomain.example (no MX record: the domain's own address)",
			"mx       <frank@nxdomain.example> delivery would fail: MX lookup of nxdomain.example: no MX record, and no address for nxdomain.example",
		)
	})

	t.Run("a full mailbox is predicted as the delivery decides it", func(t *testing.T) {
		// The directory's quota decides (maildirsize follows it).
		e.EbbAsUser(nil, "user", "add", "-c", e.Conf, "--no-password", "--quota", "100", "full@example.test")
		full := e.Maildir("full")
		for _, sub := range []string{"tmp", "new", "cur"} {
			os.MkdirAll(filepath.Join(full, sub), 0o700)
		}
		os.WriteFile(filepath.Join(full, "maildirsize"), []byte("100S\n"), 0o600)
		harness.Chown(t, e.Mail, e.User)
		// A message larger than the whole quota is refused at the end of
		// DATA whatever mail.over_quota says: no space freed makes room.
		out := route(t, 69, "--from", "alice@example.org", "--to", "full@example.test", report)
		has(t, out, "check    552 5.2.2 Message larger than the mailbox's quota", "larger than the limit itself")
		// One that fits the quota but not what is left of it:
		// mail.over_quota = temporary (the default), the delivery defers.
		e.EbbAsUser(nil, "user", "quota", "-c", e.Conf, "full@example.test", "2000")
		os.WriteFile(filepath.Join(full, "cur", "1.M1P1.mx,S=1990:2,S"), bytes.Repeat([]byte("x"), 1990), 0o600)
		harness.Chown(t, e.Mail, e.User)
		out = route(t, 75, "--from", "alice@example.org", "--to", "full@example.test", report)
		has(t, out, "quota    <full@example.test> delivery would fail: ebb serve: cannot deliver to "+full+": mailbox is over quota", "mail.over_quota")
		if strings.Contains(out, "folder ") {
			t.Errorf("a full mailbox still has a folder:\n%s", out)
		}
	})

	t.Run("a message with bare LF line ends is judged as the spool would hold it", func(t *testing.T) {
		p := filepath.Join(e.Dir, "lf.eml")
		os.WriteFile(p, []byte("From: Alice <alice@example.org>\nTo: bob@example.test\nSubject: weekly report\nMessage-ID: <lf@example.org>\n\nNumbers.\n"), 0o644)
		out := route(t, 0, "--from", "alice@example.org", "--to", "bob@example.test", "--to", "bob@example.test", p)
		has(t, out, "check    auth: passed", "sieve    <bob@example.test> fileinto Reports;",
			fmt.Sprintf("folder   <bob@example.test> Reports → %s/.Reports/new/", bob))
		// The same recipient twice is one delivery, as the queue makes it.
		if n := strings.Count(out, "resolve  <bob@example.test>"); n != 1 {
			t.Errorf("bob resolved %d times, want 1:\n%s", n, out)
		}
	})

	t.Run("SRS: a bounce to an SRS address is planned for the address it stands for", func(t *testing.T) {
		b, _ := os.ReadFile(e.Conf)
		secret := filepath.Join(e.Dir, "srs.secret")
		conf := filepath.Join(e.Dir, "srs.toml")
		os.WriteFile(conf, append(b, []byte(fmt.Sprintf("\n[srs]\nenable = true\ndomain = \"example.test\"\nsecret_file = %q\n", secret))...), 0o644)
		// No secret yet: route does not make one, and says SRS is skipped.
		out := route(t, 75, "-c", conf, "--from", "alice@example.org", "--to", "bob@example.test")
		has(t, out, "srs      SRS skipped: no secret yet at "+secret)
		if _, err := os.Stat(secret); err == nil {
			t.Fatal("route created the SRS secret")
		}
		os.WriteFile(secret, []byte("route-test-secret\n"), 0o600)
		os.Chown(secret, e.User.UID, e.User.GID)
		rw, err := srs.New(srs.Config{Domain: "example.test", Secrets: []string{"route-test-secret"}, MaxAge: 21 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// alice@example.org's mail forwarded by us had this sender; the
		// bounce to it goes to alice, at example.org's MX.
		addr, err := rw.Forward("alice@example.org")
		if err != nil || !strings.HasPrefix(addr, "SRS0=") {
			t.Fatalf("srs: %q %v", addr, err)
		}
		dns.MustAdd("example.org. 300 IN MX 10 mx.example.org.")
		out = route(t, 0, "-c", conf, "--from", "", "--to", addr)
		has(t, out, "rcpt     <"+addr+"> SRS address: delivered to alice@example.org, the address it stands for",
			"route    <alice@example.org> remote: MX of example.org",
			"mx       <alice@example.org> 1. mx.example.org (preference 10)")
	})

	// Last: ebb serve remembers what route does not (Sieve's duplicate
	// ids, vacation senders), so later routes of the same message differ.
	t.Run("what route predicts is what ebb serve does", func(t *testing.T) {
		out := route(t, 0, "--client-ip", "127.0.0.1", "--helo", "client.example", "--from", "alice@example.org", "--to", "bob@example.test", report)
		m := regexp.MustCompile(`folder   <bob@example\.test> Reports → (\S+)/new/`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("route predicts no Reports folder:\n%s", out)
		}
		e.Start()
		defer e.Stop()
		r := harness.Run(t, exec.Command("swaks", "--server", e.SMTP, "--helo", "client.example", "--from", "alice@example.org",
			"--to", "bob@example.test", "--data", "@"+report, "--timeout", "60"), nil)
		if r.Code != 0 {
			t.Fatalf("swaks: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		e.WaitFor("the message in the folder route named", func() bool {
			ents, _ := os.ReadDir(filepath.Join(m[1], "new"))
			return len(ents) == 1
		})
		if ents, _ := os.ReadDir(filepath.Join(bob, "new")); len(ents) != 0 {
			t.Errorf("ebb serve also stored the message in INBOX, which route did not predict")
		}
	})

	t.Run("without a directory database route says so and creates none", func(t *testing.T) {
		b, _ := os.ReadFile(e.Conf)
		empty := filepath.Join(e.Dir, "empty-data")
		os.MkdirAll(empty, 0o700)
		harness.Chown(t, empty, e.User)
		conf := filepath.Join(e.Dir, "nodb.toml")
		os.WriteFile(conf, []byte(strings.Replace(string(b), filepath.Join(e.Dir, "data"), empty, 1)), 0o644)
		r := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "route", "-c", conf, "--from", "alice@example.org", "--to", "bob@example.test", report), e.User), nil)
		if r.Code != 78 || !strings.Contains(r.Stderr, "create the directory first") {
			t.Errorf("exit %d, want 78 and the fix\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Errorf("route created %v in server.data_dir", ents)
		}
	})
}

// snapshot lists every file under dirs with its size, mode and mtime,
// except the directory database's own files (SQLite may touch its -shm).
func snapshot(t *testing.T, dirs []string) string {
	t.Helper()
	var lines []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if strings.HasPrefix(de.Name(), "directory.db") {
				return nil
			}
			fi, err := de.Info()
			if err != nil {
				return nil
			}
			if de.IsDir() {
				// Its entries are listed; SQLite's -shm and -wal come and
				// go next to the directory database.
				lines = append(lines, fmt.Sprintf("%s %v", p, fi.Mode()))
				return nil
			}
			lines = append(lines, fmt.Sprintf("%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano()))
			return nil
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

const dnsTypeTXT = 16 // RFC 1035 §3.2.2
