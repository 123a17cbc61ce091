package fetch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// setConf puts text (TOML lines) at the start of section, or appends the
// section when the file has none.
func (e *fetchEnv) setConf(section, text string) {
	e.T.Helper()
	b, err := os.ReadFile(e.Conf)
	if err != nil {
		e.T.Fatal(err)
	}
	s, head := string(b), "["+section+"]\n"
	if strings.Contains(s, head) {
		s = strings.Replace(s, head, head+text+"\n", 1)
	} else {
		s += "\n" + head + text + "\n"
	}
	if err := os.WriteFile(e.Conf, []byte(s), 0o644); err != nil {
		e.T.Fatal(err)
	}
}

// withHeader puts header lines in front of a message.
func withHeader(m []byte, lines string) []byte { return append([]byte(lines), m...) }

// withBody appends text to a message's body.
func withBody(m []byte, text string) []byte {
	return append(append([]byte(nil), m...), []byte(text+"\r\n")...)
}

// mailboxDir is a local mailbox's home (its Maildir's parent).
func (e *fetchEnv) mailboxDir(local string) string {
	return filepath.Join(e.Dir, "mail", "example.test", local)
}

// remoteIDs are the Message-IDs in a remote user's folder.
func (e *fetchEnv) remoteIDs(user, folder string) map[string]int {
	md := e.Remote.Maildir(user, folder)
	return harness.IdsIn(e.T, filepath.Join(md, "new"), filepath.Join(md, "cur"))
}

// The done-when of issue 23: with --after delete and --after move (IMAP)
// and delete (POP3), ebb serve fetches through every local refusal the
// delivery can give — a full mailbox (mail.over_quota = permanent), a
// mail loop (Delivered-To), a virus (clamd), spam (spamd), a message over
// smtp.max_message_size, a Sieve reject at delivery, a disabled mailbox —
// and a temporary one that expires (a Maildir ebb cannot write, past
// queue.lifetime). Every message then is in a Maildir, or still on the
// server and named in a notice in the postmaster's mailbox (and in ebb
// fetch list); none is only in a log; the messages after a refused one
// arrive; nothing arrives twice.
func TestFetchEveryLocalRefusalLeavesTheMessageOnTheServer(t *testing.T) {
	t.Parallel()
	modes := []struct{ p, proto, after string }{{"d", "imap", "delete"}, {"v", "imap", "move"}, {"p", "pop3", "delete"}}
	kinds := []string{"main", "small", "broken", "off"}
	users := map[string]string{}
	for _, m := range modes {
		for _, k := range kinds {
			users[m.p+k] = "pw-" + m.p + k
		}
	}
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	sa := harness.SharedSpamd(t)
	e := newFetchEnv(t, users, "max_accounts = 12\nidle = false\n"+harness.ScanConf(cl.Addr, sa.Addr, ""), false, "")
	e.setConf("mail", `over_quota = "permanent"`)
	e.setConf("queue", `lifetime = "8s"`)
	e.setConf("smtp", `max_message_size = "200K"`)
	e.EbbAsUser("user", "add", "-c", e.Conf, "--no-password", "postmaster@example.test")

	type want struct{ arrive, stay []string } // Message-IDs per account
	wants := map[string]*want{}
	n := 0
	msg := func(subject string, size int) ([]byte, string) {
		n++
		b := harness.TestMessage(n, subject, size)
		return b, string(harness.MessageIDRE.FindSubmatch(b)[1])
	}
	for _, m := range modes {
		for _, k := range kinds {
			local := m.p + k + "@example.test"
			args := []string{"user", "add", "-c", e.Conf, "--no-password", local}
			switch k {
			case "small":
				args = append(args, "--quota", "8K")
			case "off":
				args = append(args, "--disabled")
			}
			e.EbbAsUser(args...)
			home := e.mailboxDir(m.p + k)
			for _, sub := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o755)
			}
			os.Chown(filepath.Dir(home), e.User.UID, e.User.GID)
			harness.Chown(t, home, e.User)
			if k == "main" {
				// A Sieve reject is the delivery's own refusal, after the queue.
				os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"reject\";\nif header :contains \"subject\" \"sieve-reject\" { reject \"not here\"; }\n"), 0o644)
				harness.Chown(t, home, e.User)
			}
			if k == "broken" {
				// A Maildir ebb cannot write: deferred (our trouble), until queue.lifetime.
				for _, sub := range []string{"Maildir/tmp", "Maildir/new", "Maildir"} {
					os.Chown(filepath.Join(home, sub), 0, 0)
					os.Chmod(filepath.Join(home, sub), 0o555)
				}
			}
			w := &want{}
			wants[m.p+k] = w
			var msgs [][]byte
			add := func(b []byte, id string, arrives bool) {
				msgs = append(msgs, b)
				if arrives {
					w.arrive = append(w.arrive, id)
				} else {
					w.stay = append(w.stay, id)
				}
			}
			switch k {
			case "main":
				b, id := msg("ok", 800)
				add(b, id, true)
				b, id = msg("loop", 800)
				add(withHeader(b, "Delivered-To: "+local+"\r\n"), id, false)
				b, id = msg("ok", 800)
				add(b, id, true)
				b, id = msg("virus", 800)
				add(withBody(b, harness.EICAR()), id, false)
				b, id = msg("ok", 800)
				add(b, id, true)
				b, id = msg("spam", 800)
				add(withBody(b, harness.GTUBE()), id, false)
				b, id = msg("ok", 800)
				add(b, id, true)
				b, id = msg("size", 300<<10)
				add(b, id, false)
				b, id = msg("ok", 800)
				add(b, id, true)
				b, id = msg("sieve-reject", 800)
				add(b, id, false)
				b, id = msg("ok", 800)
				add(b, id, true)
			case "small":
				b, id := msg("ok", 1000)
				add(b, id, true)
				b, id = msg("big", 12<<10)
				add(b, id, false)
				b, id = msg("ok", 1000)
				add(b, id, true)
			case "broken":
				b, id := msg("expires", 800)
				add(b, id, false)
			case "off":
				b, id := msg("waits", 800)
				add(b, id, false)
				b, id = msg("waits", 800)
				add(b, id, false)
			}
			e.Remote.Put(t, m.p+k, "INBOX", msgs...)
			name := m.p + k
			if m.proto == "pop3" {
				e.add(users[name], name, "--protocol", "pop3", "--server", e.Remote.POP3S, "--user", name, "--to", local,
					"--ca-file", e.Remote.CACert, "--after", "delete")
			} else {
				more := []string{"--after", m.after}
				if m.after == "move" {
					os.MkdirAll(e.Remote.Maildir(name, "Archive"), 0o700)
					e.Remote.Put(t, name, "Archive")
					more = append(more, "--move-to", "Archive")
				}
				e.add(users[name], e.imapsArgs(name, name, local, more...)...)
			}
		}
	}
	e.Start()

	// Every refused message is named in a notice to the postmaster; every
	// other arrives.
	noticed := func() string { return strings.Join(e.Messages("postmaster"), "\n") }
	missing := func() string {
		all := noticed()
		var out []string
		for name, w := range wants {
			if strings.HasSuffix(name, "off") {
				continue
			}
			if got := len(e.localIDs(name)); got < len(w.arrive) {
				out = append(out, fmt.Sprintf("%s has %d of %d", name, got, len(w.arrive)))
			}
			for _, id := range w.stay {
				if !strings.Contains(all, id) {
					out = append(out, name+": no notice of "+id)
				}
			}
		}
		return strings.Join(out, "; ")
	}
	boxes := []string{e.NewDir("postmaster")}
	for name := range wants {
		boxes = append(boxes, e.NewDir(name))
	}
	if !harness.WaitOn(120*time.Second, func() bool { return missing() == "" }, boxes...) {
		if p := os.Getenv("EBB_DUMP_LOG"); p != "" {
			os.WriteFile(p, []byte(e.Log()), 0o644)
		}
		var lines []string
		for _, l := range strings.Split(e.Log(), "\n") {
			if !strings.Contains(l, "off@") && !strings.Contains(l, "account=doff") && !strings.Contains(l, "account=voff") && !strings.Contains(l, "account=poff") {
				lines = append(lines, l)
			}
		}
		t.Fatalf("after 2m: %s\nebb fetch list:\n%s\nlog:\n%s", missing(), e.fetch("list").Stdout, harness.Tail(strings.Join(lines, "\n"), 80))
	}
	list := e.fetch("list")
	for _, m := range modes {
		for _, k := range kinds {
			name, w := m.p+k, wants[m.p+k]
			local := e.localIDs(name)
			remote := e.remoteIDs(name, "INBOX")
			archive := map[string]int{}
			if m.after == "move" {
				archive = e.remoteIDs(name, "Archive")
			}
			for _, id := range w.arrive {
				if local[id] != 1 || remote[id] != 0 {
					t.Errorf("%s: %s arrives: local %d, still on the server %d; want 1, 0", name, id, local[id], remote[id])
				}
				if m.after == "move" && archive[id] != 1 {
					t.Errorf("%s: %s was not moved to Archive", name, id)
				}
			}
			for _, id := range w.stay {
				if local[id] != 0 || remote[id] != 1 {
					t.Errorf("%s: %s was refused: local %d, on the server %d; want 0, 1", name, id, local[id], remote[id])
				}
				if k != "off" && (!strings.Contains(noticed(), id) || !strings.Contains(list.Stdout, id)) {
					t.Errorf("%s: %s is in no notice or not in ebb fetch list:\n%s", name, id, list.Stdout)
				}
			}
		}
	}
	if t.Failed() {
		t.Fatalf("ebb fetch list:\n%s\nlog:\n%s", list.Stdout, harness.Tail(e.Log(), 60))
	}
	// The reasons are the real ones, each with its reference.
	for _, words := range []string{"mail forwarding loop", "Eicar", "refused as spam", "smtp.max_message_size", "rejected by the mailbox's filter",
		"over quota", "queue.lifetime"} {
		if !strings.Contains(list.Stdout+noticed(), words) {
			t.Errorf("no refusal says %q:\n%s", words, list.Stdout)
		}
	}
	for _, m := range modes {
		if l := e.listLine(m.p + "off"); !strings.Contains(l, "FAILING (mailbox") || !strings.Contains(l, "disabled") {
			t.Errorf("the account of a disabled mailbox: %s", l)
		}
	}
	page := e.Scrape()
	if !strings.Contains(page, `ebb_fetch_skipped_total{account="dmain"} 5`) {
		t.Errorf("metrics:\n%s", harness.GrepLines(page, "ebb_fetch_skipped"))
	}
	if !strings.Contains(e.Log(), `msg="fetched message skipped: it stays on the server"`) {
		t.Errorf("the log does not say a message was skipped")
	}
	// ebb explain tells a skipped message's story by the id its notice gives.
	if m := regexp.MustCompile(`Story: ebb explain (\S+)`).FindStringSubmatch(noticed()); m == nil {
		t.Errorf("no notice names a story")
	} else if r := e.EbbAsUser("explain", "-c", e.Conf, m[1]); r.Code != 0 || !strings.Contains(r.Stdout, "stays on that server") {
		t.Errorf("ebb explain %s: exit %d\n%s%s", m[1], r.Code, r.Stdout, r.Stderr)
	}
	// A notice's reader gets the reason an SMTP client would, never a local
	// path, owner or setting (principle 1): the story has those.
	whys := regexp.MustCompile(`(?m)^   Why: .*$`).FindAllString(noticed(), -1)
	for _, want := range []string{"Mailbox full", "Mail forwarding loop", "Message too big for this system", "virus", "spam", "not here", "Delivery time expired"} {
		if !strings.Contains(strings.Join(whys, "\n"), want) {
			t.Errorf("no notice says why in the words %q:\n%s", want, strings.Join(whys, "\n"))
		}
	}
	for _, local := range []string{e.Dir, e.Remote.Dir, "running as", "ebb.toml", "Fix:"} {
		if strings.Contains(noticed(), local) {
			t.Errorf("a notice tells %q:\n%s", local, strings.Join(whys, "\n"))
		}
	}
	// A notice reaches the owner too when the owner's mailbox can take it.
	if own := strings.Join(e.Messages("dmain"), "\n"); !strings.Contains(own, "stayed on 127.0.0.1") {
		t.Errorf("no notice in the owner's mailbox")
	}

	// The disabled mailboxes are enabled: their messages arrive now.
	for _, m := range modes {
		e.EbbAsUser("user", "enable", "-c", e.Conf, m.p+"off@example.test")
	}
	fetchWait(t, 60*time.Second, "the messages of the mailboxes enabled again", func() bool {
		for _, m := range modes {
			if len(e.localIDs(m.p+"off")) < 2 || len(e.remoteIDs(m.p+"off", "INBOX")) != 0 {
				return false
			}
		}
		return true
	})
	for name := range wants {
		if ids := e.localIDs(name); harness.DupCount(ids) != 0 {
			t.Errorf("%s: %d duplicates", name, harness.DupCount(ids))
		}
	}

	// A refused message is fetched again once its cause is fixed: the
	// quota is raised, and ebb fetch retry asks for it.
	harness.EbbAs(t, e.User, nil, "user", "quota", "-c", e.Conf, "dsmall@example.test", "1M")
	if r := e.fetch("retry", "dsmall"); r.Code != 0 || !strings.Contains(r.Stdout, "1 skipped messages are fetched again") {
		t.Fatalf("ebb fetch retry: %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	big := wants["dsmall"].stay[0]
	fetchWait(t, 30*time.Second, "the retried message", func() bool {
		return e.localIDs("dsmall")[big] == 1 && e.remoteIDs("dsmall", "INBOX")[big] == 0
	})
}

// Issue 21: a CA file the daemon's user cannot read. ebb fetch test, run
// as root, reads it as server.user would and fails, naming the file, its
// owner and mode, and the user; ebb serve's status says the same.
func TestFetchCAFileTheDaemonCannotRead(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "", false, "")
	dir := filepath.Join(e.Dir, "private")
	os.MkdirAll(dir, 0o755)
	ca := filepath.Join(dir, "lab-ca.pem")
	b, _ := os.ReadFile(e.Remote.CACert)
	os.WriteFile(ca, b, 0o600) // root's alone
	e.add("pw-a", "lab", "--server", e.Remote.IMAPS, "--user", "alice", "--to", "alice@example.test", "--ca-file", ca)
	r := harness.Run(t, exec.Command(harness.Ebb(t), "fetch", "test", "-c", e.Conf, "lab"), nil)
	for _, words := range []string{ca, "permission denied", "root:root 0600", e.User.Name} {
		if r.Code == 0 || !strings.Contains(r.Stderr, words) {
			t.Fatalf("ebb fetch test as root: exit %d; stderr does not say %q:\n%s%s", r.Code, words, r.Stdout, r.Stderr)
		}
	}
	e.Start()
	fetchWait(t, 30*time.Second, "the account to fail", func() bool { return strings.Contains(e.listLine("lab"), "FAILING") })
	l := e.listLine("lab")
	for _, words := range []string{ca, "permission denied", "root:root 0600", e.User.Name} {
		if !strings.Contains(l, words) {
			t.Fatalf("ebb fetch list does not say %q: %s", words, l)
		}
	}

	// ebb doctor (root, probing as the mail user) fails the fetch check
	// with the same facts, and a fix that an administrator follows
	// literally: a CA certificate is public, so it is made readable. Then
	// doctor passes, ebb fetch test works, the daemon fetches, and
	// nothing else changed.
	// Followed by doctor's own probe of the CA file alone: the account's
	// status ("N attempts in a row failed …: cannot read the CA file …",
	// once ebb serve failed fetch.failing_after times) says the CA file
	// too, and stays until ebb serve's next attempt after the fix, a
	// backoff later. The account is awaited below, and doctor is checked
	// clean once it fetches again.
	caLine := fetchDoctor(t, e, "the CA file")
	doctor := func() (string, bool) {
		out, _ := caLine()
		var probe []string
		for _, l := range strings.Split(out, "\n") {
			if l != "" && !strings.Contains(l, "in a row failed") {
				probe = append(probe, l)
			}
		}
		return strings.Join(probe, "\n"), len(probe) == 0
	}
	out, ok := doctor()
	for _, words := range []string{ca, "permission denied", "root:root 0600", e.User.Name, "holds certificates only, which are public", "run: chmod a+r " + ca} {
		if ok || !strings.Contains(out, words) {
			t.Fatalf("ebb doctor does not say %q:\n%s", words, out)
		}
	}
	t.Logf("ebb doctor: %s", out)
	f := &harness.HintFollower{T: t}
	before := harness.Observe(t, f, e.Dir)
	harness.FollowWithin(t, f, doctor, out, 1)
	before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
	if st, err := os.Stat(ca); err != nil || st.Mode().Perm() != 0o644 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the CA file after the fix: %v %v", st.Mode(), err)
	}
	if r := harness.Run(t, exec.Command(harness.Ebb(t), "fetch", "test", "-c", e.Conf, "lab"), nil); r.Code != 0 {
		t.Fatalf("ebb fetch test after the fix: %d %s", r.Code, r.Stderr)
	}
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(3, 1, "ca fixed", 1000)...)
	e.WaitCount("alice", 3, 30*time.Second)
	fetchWait(t, 30*time.Second, "the account ok again", func() bool { return strings.Contains(e.listLine("lab"), " ok (") })
	if out, ok := fetchDoctor(t, e, "")(); !ok {
		t.Fatalf("ebb doctor after the fix, the account fetching again:\n%s", out)
	}

	// A PEM file that holds a key is a secret: its fix widens nothing.
	keyed := filepath.Join(dir, "lab-key-and-cert.pem")
	k, _ := os.ReadFile(filepath.Join(filepath.Dir(e.Remote.CACert), "key.pem"))
	os.WriteFile(keyed, append(append([]byte{}, b...), k...), 0o600)
	e.add("pw-a", "keyed", "--server", e.Remote.IMAPS, "--user", "alice", "--to", "alice@example.test", "--ca-file", keyed)
	out, _ = doctor()
	t.Logf("ebb doctor: %s", out)
	if !strings.Contains(out, keyed) || !strings.Contains(out, "holds a private key besides the certificate, so its access is not widened") || strings.Contains(out, "chmod") {
		t.Fatalf("ebb doctor on a CA file with a key in it:\n%s", out)
	}
}

// fetchDoctor is ebb doctor as root (probing as the mail user): its fetch
// lines that fail or warn (those that say about, when not ""), and
// whether there are none.
func fetchDoctor(t *testing.T, e *fetchEnv, about string) func() (string, bool) {
	return func() (string, bool) { return harness.DoctorCheckLines(t, e.Conf, "fetch", about) }
}
