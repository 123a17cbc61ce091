package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Several ebb hosts on one real PostgreSQL (docs/scaling.md), each its own
// process, spool, data directory, loopback address and ports; the mail
// root its own, or one shared by the hosts that store Maildirs.

// mhost is one ebb host of a multi-host test.
type mhost struct {
	t                  *testing.T
	name               string // mx1 …: server.hostname is name + ".example.test"
	ip                 string
	dir, conf          string
	smtp, sub, metrics string
	root               string // mail.root
	srv                *harness.Serve
	u                  harness.User
}

// mhostOpts shape one host's config.
type mhostOpts struct {
	root         string // "": a mail root of its own
	deliveryHost string // mail.delivery_host
	submission   bool   // a submission listener (STARTTLS, AUTH)
	subExtra     string // more [submission] settings
	extra        string // more TOML, appended
}

// newMHost writes host name's config on dsn; ip is its loopback address.
func newMHost(t *testing.T, u harness.User, dsn, name, ip string, o mhostOpts) *mhost {
	t.Helper()
	h := &mhost{t: t, name: name, ip: ip, dir: harness.Dir(t), u: u}
	h.conf = filepath.Join(h.dir, "ebb.toml")
	port := func() string { return fmt.Sprintf("%s:%d", ip, harness.FreePort(t)) }
	h.smtp, h.metrics = port(), port()
	h.root = o.root
	if h.root == "" {
		h.root = filepath.Join(h.dir, "mail")
	}
	sub := ""
	if o.submission {
		h.sub = port()
		cert, key := harness.WriteCert(t, h.dir)
		sub = fmt.Sprintf("[submission]\nlisten = [%q]\ntls_cert = %q\ntls_key = %q\ntrusted_networks = []\nauth_failure_delay = \"1ms\"\n%s", h.sub, cert, key, o.subExtra)
	}
	conf := fmt.Sprintf(`[server]
hostname = %q
user = %q
data_dir = %q
[mail]
root = %q
delivery_host = %q
[queue]
spool = %q
retry_min = "1s"
retry_max = "2s"
[smtp]
listen = [%q]
shutdown_timeout = "5s"
[auth]
# The hosts and the test's clients are all on loopback: none is checked.
trusted_networks = ["127.0.0.0/8"]
[relay]
dead_interval = "1s"
[metrics]
listen = %q
[directory]
dsn = %q
cache_ttl = "1s"
argon2_memory = "8M"
argon2_time = 1
%s
%s`, name+".example.test", u.Name, filepath.Join(h.dir, "data"), h.root, o.deliveryHost, filepath.Join(h.dir, "spool"),
		h.smtp, h.metrics, dsn, sub, o.extra)
	if err := os.WriteFile(h.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(h.dir, "data"), filepath.Join(h.dir, "spool"), h.root} {
		os.MkdirAll(d, 0o700)
		harness.Chown(t, d, u)
	}
	return h
}

// start runs the host's ebb serve and waits for its listener.
func (h *mhost) start() {
	h.t.Helper()
	h.srv = harness.StartServe(h.t, h.conf, filepath.Join(h.dir, "serve.log"))
	harness.WaitTCP(h.t, h.smtp, "220", 20*time.Second)
}

// ebb runs an ebb command against this host's config as the mail user.
func (h *mhost) ebb(args ...string) harness.Result {
	h.t.Helper()
	args = append(args[:len(args):len(args)], "-c", h.conf)
	return harness.Run(h.t, harness.AsUser(exec.Command(harness.Ebb(h.t), args...), h.u), nil)
}

// send hands a message to this host's SMTP listener with swaks.
func (h *mhost) send(from, to string, args ...string) harness.Result {
	h.t.Helper()
	return harness.Swaks(h.t, append([]string{"--server", h.smtp, "--from", from, "--to", to}, args...)...)
}

// poll is how often the scaling tests check what they wait for: their
// checks run mailq or read several hosts' Maildirs.
const poll = 100 * time.Millisecond

// maildirCount counts the messages in a Maildir's new/ and cur/.
func maildirCount(dir string) int { return len(mdFiles(dir)) }

func mdFiles(dir string) []string {
	n, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	c, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	return append(n, c...)
}

func logs(hs ...*mhost) string {
	var b strings.Builder
	for _, h := range hs {
		if h.srv != nil {
			fmt.Fprintf(&b, "== %s\n%s\n", h.name, harness.Tail(h.srv.Log(), 40))
		}
	}
	return b.String()
}

// The documented topology "one delivery host" as a setting: an MX host
// with mail.delivery_host refuses unknown recipients itself (the shared
// directory), relays hosted mail to the delivery host, which alone writes
// the Maildirs, and queues it while the delivery host is down, saying why
// and what to do; once it is back, the mail arrives. The mail root of the
// MX stays empty.
func TestScalingMXRelaysHostedMailToTheDeliveryHost(t *testing.T) {
	harness.RequireRoot(t)
	t.Parallel() // its own database, addresses and dirs; no clock bound
	u := harness.Unprivileged(t)
	dsn := harness.SharedPostgres(t).NewDatabase(t)
	store := newMHost(t, u, dsn, "store", "127.0.0.12", mhostOpts{})
	mx := newMHost(t, u, dsn, "mx", "127.0.0.11", mhostOpts{deliveryHost: store.smtp})
	harness.EbbAs(t, u, nil, "domain", "add", "-c", mx.conf, "example.test")
	harness.EbbAs(t, u, nil, "user", "add", "-c", mx.conf, "--no-password", "bob@example.test")
	store.start()
	mx.start()
	inbox := filepath.Join(store.root, "example.test", "bob", "Maildir")

	if r := mx.send("alice@example.org", "nobody@example.test"); r.Code == 0 || !strings.Contains(r.Stdout, "550 5.1.1") {
		t.Fatalf("the MX accepted an unknown recipient: exit %d\n%s", r.Code, r.Stdout)
	}
	if r := mx.send("alice@example.org", "bob@example.test", "--h-Subject", "first"); r.Code != 0 {
		t.Fatalf("send through the MX: exit %d\n%s", r.Code, r.Stdout)
	}
	harness.WaitForSaying(t, "the delivery host stores the MX's message", 30*time.Second, poll, func() bool { return maildirCount(inbox) == 1 },
		func() string { return logs(mx, store) })
	if n, _ := filepath.Glob(filepath.Join(mx.root, "*")); len(n) != 0 {
		t.Errorf("the MX wrote into its own mail root: %v", n)
	}
	b, _ := os.ReadFile(mdFiles(inbox)[0])
	if !strings.Contains(string(b), "by mx.example.test") || !strings.Contains(string(b), "by store.example.test") {
		t.Errorf("the stored message did not pass both hosts (Received fields):\n%s", b)
	}

	// The delivery host goes down: the MX still accepts, and queues.
	store.srv.Stop()
	if r := mx.send("alice@example.org", "bob@example.test", "--h-Subject", "while down"); r.Code != 0 {
		t.Fatalf("send while the delivery host is down: exit %d\n%s", r.Code, r.Stdout)
	}
	var mailq string
	harness.WaitForSaying(t, "the MX's mailq says why the message waits", 30*time.Second, poll, func() bool {
		mailq = mx.ebb("mailq").Stdout
		return strings.Contains(mailq, "mail.delivery_host")
	}, func() string { return mailq + logs(mx) })
	for _, want := range []string{"the delivery host (mail.delivery_host) does not accept connections", "start ebb serve there"} {
		if !strings.Contains(mailq, want) {
			t.Errorf("mailq lacks %q:\n%s", want, mailq)
		}
	}
	// mailq on the delivery host (stopped: mailq reads files and the
	// database) shows the MX's queue too, as the MX last published it.
	var other string
	harness.WaitForSaying(t, "mailq on the delivery host shows the MX's waiting message", 30*time.Second, poll, func() bool {
		other = store.ebb("mailq").Stdout
		return strings.Contains(other, "mx.example.test (live") && strings.Contains(other, "1 message, 1 deferred")
	}, func() string { return other })
	for _, want := range []string{"Mail queue is empty", "The other hosts' queues", "1 deferred: cannot deliver to",
		"fix: the delivery host (mail.delivery_host) does not accept connections: start ebb serve there",
		"from <alice@example.org> waiting for bob@example.test"} {
		if !strings.Contains(other, want) {
			t.Errorf("mailq on the delivery host lacks %q:\n%s", want, other)
		}
	}
	// doctor on the MX says the same before anything waits.
	if r := mx.ebb("doctor"); !strings.Contains(r.Stdout, "WARN  mail.delivery_host") {
		t.Errorf("doctor on the MX does not warn about the delivery host being down:\n%s", r.Stdout)
	}
	store.start()
	harness.WaitForSaying(t, "the queued message reaches the delivery host once it is back", 30*time.Second, poll, func() bool { return maildirCount(inbox) == 2 },
		func() string { return mx.ebb("mailq").Stdout + logs(mx, store) })
	if r := mx.ebb("doctor"); !strings.Contains(r.Stdout, "ok    mail.delivery_host") {
		t.Errorf("doctor on the MX with the delivery host up:\n%s", r.Stdout)
	}
	// ebb route on the MX names the way.
	if r := mx.ebb("route", "--from", "alice@example.org", "--to", "bob@example.test"); !strings.Contains(r.Stdout, store.smtp) || !strings.Contains(r.Stdout, "mail.delivery_host") {
		t.Errorf("ebb route on the MX does not name the delivery host:\n%s%s", r.Stdout, r.Stderr)
	}
}

// sieveScript puts mailbox's active Sieve script where sieve.script finds
// it by default (~/.dovecot.sieve, home the Maildir's parent).
func sieveScript(t *testing.T, u harness.User, root, local, script string) {
	t.Helper()
	home := filepath.Join(root, "example.test", local)
	os.MkdirAll(home, 0o700)
	p := filepath.Join(home, ".dovecot.sieve")
	if err := os.WriteFile(p, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "example.test"), home, p} {
		harness.Chown(t, d, u)
	}
}

// Issue 27's three hosts on one PostgreSQL: mx1 an MX relaying hosted mail
// to mx2; mx2 and mx3 store Maildirs in one shared mail root. Vacation
// answers a sender once whichever host delivers; the duplicate test finds
// a Message-ID stored through another host; ebb explain on mx3 tells the
// whole story of a message mx1 received and mx2 delivered; each host's
// queue page shows every host's queue; doctor sees the shared storage;
// AUTH guesses count across hosts.
func TestScalingThreeHostsOneMailSystem(t *testing.T) {
	harness.RequireRoot(t)
	u := harness.Unprivileged(t)
	dsn := harness.SharedPostgres(t).NewDatabase(t)
	shared := harness.Dir(t)
	os.Chmod(shared, 0o755)
	root := filepath.Join(shared, "vmail")
	const lease = 3 * time.Second
	fetchConf := fmt.Sprintf("[fetch]\ninterval = \"1s\"\nbackoff_min = \"1s\"\nbackoff_max = \"2s\"\ntimeout = \"30s\"\nlease = %q\n", lease.String())
	const limit = "max_messages_per_account = 3\n"
	mx2 := newMHost(t, u, dsn, "mx2", "127.0.0.22", mhostOpts{root: root, submission: true, subExtra: limit, extra: fetchConf})
	mx3 := newMHost(t, u, dsn, "mx3", "127.0.0.23", mhostOpts{root: root, submission: true, subExtra: limit, extra: fetchConf})
	mx1 := newMHost(t, u, dsn, "mx1", "127.0.0.21", mhostOpts{deliveryHost: mx2.smtp, extra: fetchConf})
	hosts := []*mhost{mx1, mx2, mx3}
	harness.EbbAs(t, u, nil, "domain", "add", "-c", mx1.conf, "example.test")
	for _, a := range []string{"bob", "carol", "dave", "frank"} {
		harness.EbbAs(t, u, nil, "user", "add", "-c", mx1.conf, "--no-password", a+"@example.test")
	}
	harness.EbbAs(t, u, []byte("bob's password\n"), "user", "add", "-c", mx1.conf, "bob2@example.test")
	harness.EbbAs(t, u, []byte("erin's password\n"), "user", "add", "-c", mx1.conf, "erin@example.test")
	sieveScript(t, u, root, "bob", `require ["vacation", "duplicate"];
if duplicate { discard; stop; }
vacation :days 1 :addresses ["bob@example.test"] "Away until Monday.";
`)
	// The fetch account, its remote mailbox empty until the fetch part
	// below: a host takes its lease as it starts (accounts added while
	// they run are seen at their next reading of the accounts, 30 s).
	remote := harness.StartRemoteDovecot(t, map[string]string{"eve": "pw-e"}, "")
	add := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "fetch", "add", "-c", mx3.conf, "eve", "--server", remote.IMAPS,
		"--user", "eve", "--to", "frank@example.test", "--ca-file", remote.CACert, "--after", "delete"), u), []byte("pw-e\n"))
	if add.Code != 0 {
		t.Fatalf("ebb fetch add: %d\n%s%s", add.Code, add.Stdout, add.Stderr)
	}
	began := time.Now()
	mark := began
	phase := func(what string) { // where the test's time goes (CI's budget)
		t.Logf("%-40s %6s (%s in all)", what, time.Since(mark).Round(10*time.Millisecond), time.Since(began).Round(10*time.Millisecond))
		mark = time.Now()
	}
	for _, h := range hosts {
		h.start()
	}
	phase("three hosts started")
	md := func(local string) string { return filepath.Join(root, "example.test", local, "Maildir") }
	delivered := func(h *mhost, query string) int {
		return strings.Count(h.ebb("explain", query).Stdout, "delivered to <")
	}

	// One story across hosts: mx1 receives, relays to mx2, which stores;
	// mx3, which saw nothing of it, tells all of it.
	r := mx1.send("alice@example.org", "carol@example.test", "--h-Subject", "via the MX", "--header", "Message-Id: <story@example.org>")
	if r.Code != 0 {
		t.Fatalf("send to mx1: %d\n%s", r.Code, r.Stdout)
	}
	qid := queueIDOf(t, r.Stdout)
	harness.WaitForSaying(t, "carol's message stored by mx2", 30*time.Second, poll, func() bool { return maildirCount(md("carol")) == 1 }, func() string { return logs(hosts...) })
	var story string
	harness.WaitForSaying(t, "mx3 tells the story of mx1's message", 10*time.Second, poll, func() bool {
		story = mx3.ebb("explain", qid).Stdout
		return strings.Count(story, "delivered to <carol@example.test>") == 2
	}, func() string { return story })
	for _, want := range []string{"mx1.example.test  " + qid + "  received from <alice@example.org> for <carol@example.test>",
		"mx1.example.test  " + qid + "  delivered to <carol@example.test> (remote", "relayed to " + strings.Split(mx2.smtp, ":")[0],
		"mx2.example.test  ", "received from <alice@example.org> for <carol@example.test>", "(local, attempt 1, ", "ms): stored for carol@example.test in " + root} {
		if !strings.Contains(story, want) {
			t.Errorf("ebb explain %s on mx3 lacks %q:\n%s", qid, want, story)
		}
	}
	t.Logf("ebb explain %s on mx3:\n%s", qid, story)

	phase("one story across hosts")
	// Vacation: carol writes to bob through mx2, then mx3, then mx1 (which
	// relays to mx2): one response.
	for i, h := range []*mhost{mx2, mx3, mx1} {
		if r := h.send("carol@example.test", "bob@example.test", "--h-Subject", fmt.Sprintf("hello %d", i)); r.Code != 0 {
			t.Fatalf("carol via %s: %d\n%s", h.name, r.Code, r.Stdout)
		}
		harness.WaitForSaying(t, fmt.Sprintf("carol's message %d stored", i), 30*time.Second, poll, func() bool { return maildirCount(md("bob")) == i+1 },
			func() string { return logs(hosts...) })
	}
	// Duplicate: one Message-ID from dave through mx3, mx2, mx3, mx2:
	// stored once; dave is answered once too.
	for i, h := range []*mhost{mx3, mx2, mx3, mx2} {
		if r := h.send("dave@example.test", "bob@example.test", "--h-Subject", "same", "--header", "Message-Id: <dup@example.test>"); r.Code != 0 {
			t.Fatalf("dave via %s: %d\n%s", h.name, r.Code, r.Stdout)
		}
		harness.WaitForSaying(t, fmt.Sprintf("dave's copy %d delivered (stored or discarded)", i+1), 30*time.Second, poll,
			func() bool { return delivered(mx1, "<dup@example.test>") == i+1 }, func() string { return mx1.ebb("explain", "<dup@example.test>").Stdout })
	}
	if n := maildirCount(md("bob")); n != 4 {
		t.Errorf("bob has %d messages; want carol's 3 and one of dave's 4 copies", n)
	}
	// Each sender got one response, whichever host delivered.
	harness.WaitForSaying(t, "the vacation responses stored", 30*time.Second, poll, func() bool {
		return maildirCount(md("carol")) >= 2 && maildirCount(md("dave")) >= 1
	}, func() string { return logs(hosts...) })
	for _, h := range hosts {
		harness.WaitForSaying(t, h.name+"'s queue empty", 30*time.Second, poll, func() bool { return strings.Contains(h.ebb("mailq").Stdout, "empty") },
			func() string { return h.ebb("mailq").Stdout })
	}
	if n := maildirCount(md("carol")); n != 2 {
		t.Errorf("carol has %d messages; want the first one and one vacation response for her 3 messages through 3 hosts", n)
	}
	if n := maildirCount(md("dave")); n != 1 {
		t.Errorf("dave has %d messages; want one vacation response", n)
	}
	for _, f := range append(mdFiles(md("dave")), mdFiles(md("carol"))...) {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Auto-Submitted: auto-replied") && !strings.Contains(string(b), "Away until Monday.") {
			t.Errorf("%s: a response without the reason:\n%s", f, b)
		}
	}

	phase("vacation and duplicate")
	// Every host's queue on each host's page, named.
	page := httpGet(t, "http://"+mx3.metrics+"/")
	for _, want := range []string{"Every host's queue", "mx1.example.test", "mx2.example.test", "mx3.example.test (this host)", "live, heard of"} {
		if !strings.Contains(page, want) {
			t.Errorf("mx3's queue page lacks %q", want)
		}
	}
	if code, body := httpStatus(t, "http://"+mx3.metrics+"/explain/"+qid); code != 200 || !strings.Contains(body, "mx2.example.test") {
		t.Errorf("mx3's /explain/%s: %d\n%s", qid, code, body)
	}
	if code, _ := httpStatus(t, "http://"+mx3.metrics+"/explain/AAAAAAAAAAAA"); code != 404 {
		t.Errorf("an unknown id's story page answers %d; want 404", code)
	}

	// doctor: mx2 and mx3 share the storage; nothing else told apart.
	for _, h := range []*mhost{mx2, mx3} {
		out := h.ebb("doctor").Stdout
		if !strings.Contains(out, "ok    cluster") || !strings.Contains(out, "3 hosts share") {
			t.Errorf("doctor on %s does not list the hosts:\n%s", h.name, out)
		}
		if strings.Contains(out, "WARN  cluster") {
			t.Errorf("doctor on %s warns about the cluster:\n%s", h.name, out)
		}
	}

	phase("queue page, doctor")
	// AUTH: guesses at mx2 count at mx3.
	guess := func(h *mhost, pass string) int {
		c := harness.DialSMTP(t, "127.0.9.9", h.sub, false)
		c.StartTLS()
		defer c.Conn.Close()
		code, _ := c.AuthPlain("bob2@example.test", pass)
		return code
	}
	for i := 0; i < 10; i++ {
		if code := guess([]*mhost{mx2, mx3}[i%2], fmt.Sprintf("guess %d", i)); code != 535 {
			t.Fatalf("guess %d: %d, want 535", i, code)
		}
	}
	if code := guess(mx3, "guess 11"); code != 454 {
		t.Errorf("the 11th guess from one source at the second host: %d; want 454 (10 failures counted over both hosts)", code)
	}

	// Fetch: one account, 400 messages on a real Dovecot, --after delete,
	// fetched by whichever host takes its lease; that host is killed (-9)
	// during the fetch; another takes the account over within the lease
	// and its look interval; every message reaches frank exactly once but
	// those in flight at the kill (counted); the server copies all go.
	// Submission's hourly limit counts over the hosts too: erin may send
	// 3 messages an hour; the 4th is refused at whichever host.
	submit := func(h *mhost) (int, string) {
		c := harness.DialSMTP(t, "127.0.9.10", h.sub, false)
		c.StartTLS()
		defer c.Conn.Close()
		if code, msg := c.AuthPlain("erin@example.test", "erin's password"); code != 235 {
			t.Fatalf("erin's login at %s: %d %s", h.name, code, msg)
		}
		return c.Cmd("MAIL FROM:<erin@example.test>")
	}
	for i, h := range []*mhost{mx2, mx3, mx2} {
		if code, msg := submit(h); code != 250 {
			t.Fatalf("erin's message %d at %s: %d %s", i+1, h.name, code, msg)
		}
	}
	if code, msg := submit(mx3); code != 450 || !strings.Contains(msg, "submission.max_messages_per_account") {
		t.Errorf("erin's 4th message in the hour, at mx3: %d %s; want 450 (3 counted over both hosts)", code, msg)
	}
	phase("AUTH guesses, submission limit")
	frank := md("frank")
	var owner fetchOwner
	harness.WaitForSaying(t, "a host holds the account's lease", 60*time.Second, poll, func() bool {
		owner = fetchOwnerOf(t, mx2, "eve")
		return owner.Host != ""
	}, func() string { return mx2.ebb("fetch", "list").Stdout + logs(hosts...) })
	const n = 400
	remote.Put(t, "eve", "INBOX", harness.RemoteMsgs(n, 1, "fetched", 16<<10)...)
	phase("remote mailbox filled")
	harness.WaitForSaying(t, "the holder fetches", 60*time.Second, poll, func() bool {
		owner = fetchOwnerOf(t, mx2, "eve")
		return owner.Host != "" && maildirCount(frank) >= 40
	}, func() string { return mx2.ebb("fetch", "list").Stdout + logs(hosts...) })
	var victim *mhost
	for _, h := range hosts {
		if h.name+".example.test" == owner.Host {
			victim = h
		}
	}
	if victim == nil {
		t.Fatalf("the owner %q is none of the hosts", owner.Host)
	}
	phase("fetch until the kill")
	victim.srv.Kill()
	killed := time.Now()
	spool := harness.IdsIn(t, filepath.Join(victim.dir, "spool", "queue"))
	// What the killed host had handed on already: in another host's
	// spool (the MX relays to mx2), or stored. Each spool is read before
	// the Maildir, so a message moving on between the reads is seen.
	handed := map[string]int{}
	for _, h := range hosts {
		if h != victim {
			for id := range harness.IdsIn(t, filepath.Join(h.dir, "spool", "queue")) {
				handed[id]++
			}
		}
	}
	stored := harness.IdsIn(t, filepath.Join(frank, "new"), filepath.Join(frank, "cur"))
	for id := range stored {
		handed[id]++
	}
	if len(stored) >= n {
		t.Fatalf("the fetch was over before the kill")
	}
	// The queue's own crash rule: a message handed on (stored, or taken
	// by the next host) but not yet off the killed host's spool is
	// delivered again at its restart; fetching adds at most its one
	// message in flight.
	queueDups := 0
	for id := range spool {
		if handed[id] > 0 {
			queueDups++
		}
	}
	t.Logf("killed %s (the account's owner) with %d messages stored, %d in its spool", owner.Host, len(stored), len(spool))
	var next fetchOwner
	others := []*mhost{}
	for _, h := range hosts {
		if h != victim {
			others = append(others, h)
		}
	}
	harness.WaitForSaying(t, "another host takes the account over", 2*lease+30*time.Second, poll, func() bool {
		next = fetchOwnerOf(t, others[0], "eve")
		return next.Host != "" && next.Host != owner.Host && !next.Ended
	}, func() string { return others[0].ebb("fetch", "list").Stdout + logs(others...) })
	took := next.Since.Sub(killed)
	bound := lease + lease/5
	t.Logf("%s took the account over %s after the kill (stated bound: fetch.lease %s + a fifth of it = %s)", next.Host, took.Round(time.Millisecond), lease, bound)
	if took > bound+2*time.Second {
		t.Errorf("takeover %s after the kill; stated bound %s (+2s for the machine's load)", took, bound)
	}
	if l := others[0].ebb("fetch", "list").Stdout; !strings.Contains(l, "fetched by "+next.Host+" since") {
		t.Errorf("ebb fetch list does not name the owner %s:\n%s", next.Host, l)
	}
	// The killed host comes back and delivers what its spool held.
	phase("takeover after the kill")
	victim.start()
	harness.WaitForSaying(t, "every message fetched, delivered and off the server", 240*time.Second, poll, func() bool {
		return len(harness.IdsIn(t, filepath.Join(frank, "new"), filepath.Join(frank, "cur"))) == n && remote.Count("eve", "INBOX") == 0
	}, func() string {
		return fmt.Sprintf("%d distinct in frank's Maildir, %d on the server\n", len(harness.IdsIn(t, filepath.Join(frank, "new"), filepath.Join(frank, "cur"))), remote.Count("eve", "INBOX")) +
			others[0].ebb("fetch", "list").Stdout + logs(hosts...)
	})
	for _, h := range hosts {
		harness.WaitForSaying(t, h.name+"'s queue empty", 60*time.Second, poll, func() bool { return strings.Contains(h.ebb("mailq").Stdout, "empty") },
			func() string { return h.ebb("mailq").Stdout })
	}
	got := harness.IdsIn(t, filepath.Join(frank, "new"), filepath.Join(frank, "cur"))
	dups := harness.DupCount(got)
	t.Logf("%d messages fetched once each; %d duplicates (allowed: the one in flight + %d the queue's crash rule redelivers)", len(got), dups, queueDups)
	if len(got) != n || dups > 1+queueDups {
		t.Errorf("frank has %d distinct messages (want %d) and %d duplicates (at most 1 + %d)", len(got), n, dups, queueDups)
	}
	phase("every message delivered, queues empty")
	// A clean stop gives the lease back: another host takes it at once.
	cur := fetchOwnerOf(t, victim, "eve")
	var holder *mhost
	for _, h := range hosts {
		if h.name+".example.test" == cur.Host {
			holder = h
		}
	}
	if holder == nil {
		t.Fatalf("no host holds the account now: %+v", cur)
	}
	holder.srv.Stop()
	stopped := time.Now()
	var after fetchOwner
	watcher := mx1
	if holder == mx1 {
		watcher = mx3
	}
	harness.WaitForSaying(t, "another host takes the account after a clean stop", 2*lease+30*time.Second, poll, func() bool {
		after = fetchOwnerOf(t, watcher, "eve")
		return after.Host != "" && after.Host != cur.Host && !after.Ended
	}, func() string { return watcher.ebb("fetch", "list").Stdout })
	t.Logf("after %s stopped cleanly, %s took the account %s later (bound: a fifth of fetch.lease, %s)", cur.Host, after.Host,
		after.Since.Sub(stopped).Round(time.Millisecond), lease/5)
	if d := after.Since.Sub(stopped); d > lease/5+2*time.Second {
		t.Errorf("takeover after a clean stop took %s; want within the look interval %s (+2s)", d, lease/5)
	}
	phase("clean stop handover")
}

// fetchOwner is an account's owner as ebb fetch list --json says.
type fetchOwner struct {
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	Ended bool      `json:"ended"`
}

func fetchOwnerOf(t *testing.T, h *mhost, account string) fetchOwner {
	t.Helper()
	r := h.ebb("fetch", "list", "--json")
	var ls []struct {
		Name  string      `json:"name"`
		Owner *fetchOwner `json:"owner"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &ls); err != nil {
		t.Fatalf("ebb fetch list --json on %s: %v\n%s%s", h.name, err, r.Stdout, r.Stderr)
	}
	for _, l := range ls {
		if l.Name == account && l.Owner != nil {
			return *l.Owner
		}
	}
	return fetchOwner{}
}

// queueIDOf is the queue id in swaks's transcript ("queued as ID").
func queueIDOf(t *testing.T, transcript string) string {
	t.Helper()
	i := strings.LastIndex(transcript, "queued as ")
	if i < 0 {
		t.Fatalf("no queue id in:\n%s", transcript)
	}
	return strings.Fields(transcript[i+len("queued as "):])[0]
}

// httpStatus fetches url and returns the status and body.
func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	_, b := httpStatus(t, url)
	return b
}
