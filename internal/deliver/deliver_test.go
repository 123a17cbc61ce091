package deliver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/maildir"
)

// resolver is a directory with fixed answers: the unit tests pin down what
// delivery does with a resolution, not how the directory finds it (the
// integration tests use the real directory).
type resolver map[string]*directory.Resolution

func (r resolver) Resolve(ctx context.Context, a string) (*directory.Resolution, error) {
	if res, ok := r[a]; ok {
		return res, nil
	}
	if a == "broken@example.com" {
		return nil, errors.New("database is down")
	}
	return &directory.Resolution{Address: a}, nil
}

func (r resolver) IsLocalDomain(ctx context.Context, d string) (bool, error) { return true, nil }

func newAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	root := t.TempDir()
	cfg, err := config.Parse("test.toml", []byte("[server]\nhostname = \"mx.test\"\n[mail]\nroot = \""+root+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Cfg: cfg, Resolver: resolver{
		"team@example.com": {Address: "team@example.com", Mailboxes: []*directory.Mailbox{
			{Address: "alice@example.com", Enabled: true},
			{Address: "bob@example.com", Enabled: true, Maildir: filepath.Join(root, "custom", "bob")},
		}, Forwards: []string{"carol@example.net"}},
		"alice@example.com": {Address: "alice@example.com", Mailboxes: []*directory.Mailbox{{Address: "alice@example.com", Enabled: true}}},
		"off@example.com":   {Address: "off@example.com", Mailboxes: []*directory.Mailbox{{Address: "off@example.com", Enabled: false}}},
	}}
	return a, root
}

func newFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

func TestDeliverFileFansOutThroughOneFile(t *testing.T) {
	a, root := newAgent(t)
	spool := filepath.Join(t.TempDir(), "spool-msg")
	os.WriteFile(spool, []byte("Subject: hi\n\nbody\n"), 0o600)
	rep, err := a.DeliverFile(context.Background(), spool, Envelope{
		Sender: "x@example.net", Recipient: "team@example.com", Prefix: []byte("Received: from test\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Delivered(); len(got) != 2 {
		t.Fatalf("delivered to %v", got)
	}
	if len(rep.Forwards) != 1 || rep.Forwards[0] != "carol@example.net" {
		t.Errorf("forwards %v", rep.Forwards)
	}
	alice := newFiles(t, filepath.Join(root, "example.com", "alice", "Maildir"))
	bob := newFiles(t, filepath.Join(root, "custom", "bob"))
	if len(alice) != 1 || len(bob) != 1 {
		t.Fatalf("alice %v bob %v", alice, bob)
	}
	sa, _ := os.Stat(alice[0])
	sb, _ := os.Stat(bob[0])
	if !os.SameFile(sa, sb) {
		t.Error("not one hard-linked file")
	}
	data, _ := os.ReadFile(alice[0])
	want := "Return-Path: <x@example.net>\nDelivered-To: team@example.com\nReceived: from test\nSubject: hi\n\nbody\n"
	if string(data) != want {
		t.Errorf("stored %q, want %q", data, want)
	}
	if rep.Size != int64(len(want)) {
		t.Errorf("Report.Size %d", rep.Size)
	}
	if tmp, _ := os.ReadDir(filepath.Join(root, "example.com", "alice", "Maildir", "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ not empty: %v", tmp)
	}
	if _, err := os.Stat(spool); err != nil {
		t.Errorf("the spool file was touched: %v", err)
	}

	// A retry that names the delivered mailboxes delivers nothing again.
	rep, err = a.DeliverFile(context.Background(), spool, Envelope{Recipient: "team@example.com", Done: []string{"alice@example.com", "BOB@example.com"}})
	if err != nil || len(rep.Outcomes) != 0 {
		t.Errorf("retry with Done: %v %+v", err, rep.Outcomes)
	}
}

func TestDeliverErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name  string
		env   Envelope
		msg   string
		class diag.Class
		exit  int
	}{
		{"unknown mailbox", Envelope{Recipient: "nobody@example.com"}, "Subject: x\n\n", diag.Permanent, diag.ExNoUser},
		{"disabled mailbox", Envelope{Recipient: "off@example.com"}, "Subject: x\n\n", diag.Permanent, diag.ExNoUser},
		{"directory down", Envelope{Recipient: "broken@example.com"}, "Subject: x\n\n", diag.Temporary, diag.ExTempFail},
		{"loop", Envelope{Recipient: "alice@example.com"}, "Delivered-To: <ALICE@example.com>\nSubject: x\n\n", diag.Permanent, diag.ExDataErr},
		{"loop through an alias", Envelope{Recipient: "team@example.com"}, "Delivered-To: bob@example.com\n\n", diag.Permanent, diag.ExDataErr},
		{"bad -A header", Envelope{Recipient: "alice@example.com", Headers: []string{"nocolon"}}, "", diag.Permanent, diag.ExUsage},
		{"header injection", Envelope{Recipient: "alice@example.com", Headers: []string{"X: a\r\nBcc: b"}}, "", diag.Permanent, diag.ExUsage},
		{"sender with a line break", Envelope{Recipient: "alice@example.com", Sender: "a@b\nX: y"}, "", diag.Permanent, diag.ExUsage},
		{"no recipient", Envelope{}, "", diag.Permanent, diag.ExUsage},
		{"address that would escape mail.root", Envelope{Recipient: "../../etc@example.com"}, "", diag.Permanent, diag.ExNoUser},
		{"control character in the recipient", Envelope{Recipient: "a\x01lice@example.com"}, "", diag.Permanent, diag.ExNoUser},
		{"escape sequence in the recipient", Envelope{Recipient: "\x1b[31malice@example.com"}, "", diag.Permanent, diag.ExNoUser},
		{"control character in the sender", Envelope{Recipient: "alice@example.com", Sender: "a\x01b@example.org"}, "", diag.Permanent, diag.ExUsage},
		{"control character in an -A header", Envelope{Recipient: "alice@example.com", Headers: []string{"X-Note: a\x1b[2Jb"}}, "", diag.Permanent, diag.ExUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, root := newAgent(t)
			if c.name == "address that would escape mail.root" {
				a.Resolver = nil
			}
			_, err := a.Deliver(context.Background(), strings.NewReader(c.msg), c.env)
			d, ok := diag.As(err)
			if !ok {
				t.Fatalf("error %v is not a diag error", err)
			}
			if d.Class != c.class || d.ExitCode() != c.exit {
				t.Errorf("class %s exit %d, want %s %d: %s", d.Class, d.ExitCode(), c.class, c.exit, d.Sentence())
			}
			if !strings.HasPrefix(d.Sentence(), "ebb deliver: ") {
				t.Errorf("sentence %q", d.Sentence())
			}
			if c.exit == diag.ExDataErr {
				if code, enh, _ := d.SMTPReply(); code != 554 || enh != [3]int{5, 4, 6} {
					t.Errorf("loop reply %d %v", code, enh)
				}
			}
			if n := len(newFiles(t, filepath.Join(root, "example.com", "alice", "Maildir"))); n != 0 {
				t.Errorf("%d files delivered", n)
			}
		})
	}
}

// filter returns a fixed decision and records what it saw.
type filter struct {
	d    *Decision
	err  error
	seen []*Message
	body [][]byte
}

func (f *filter) Decide(ctx context.Context, mb *directory.Mailbox, msg *Message, env Envelope) (*Decision, error) {
	f.seen = append(f.seen, msg)
	data, _ := os.ReadFile(msg.Path)
	f.body = append(f.body, data)
	return f.d, f.err
}

func TestFilterDecisions(t *testing.T) {
	msg := "From: a@example.net\nSubject: filtered\n\nbody\n"
	cases := []struct {
		name  string
		f     *filter
		files []string // dir/sub relative to the Maildir, with flag suffix
		exit  int
	}{
		{"nil decision keeps", &filter{}, []string{"new"}, 0},
		{"implicit keep", &filter{d: &Decision{}}, []string{"new"}, 0},
		{"fileinto with flags and keep", &filter{d: &Decision{Stores: []Store{
			{Folder: "INBOX"}, {Folder: "Lists/Go", Flags: []string{`\Seen`, `\Flagged`}}}}},
			[]string{"new", ".Lists.Go/cur:2,FS"}, 0},
		{"discard", &filter{d: &Decision{Discard: true}}, nil, 0},
		{"reject", &filter{d: &Decision{Reject: "not wanted here"}}, nil, diag.ExNoPerm},
		{"filter trouble is temporary", &filter{err: errors.New("script unreadable")}, nil, diag.ExTempFail},
		{"redirect and vacation go to the caller", &filter{d: &Decision{Discard: true, Redirects: []string{"x@example.org"},
			Outbound: []Outbound{{Recipients: []string{"a@example.net"}, Data: []byte("Subject: away\n\n")}}}}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, root := newAgent(t)
			a.Filter = c.f
			rep, err := a.Deliver(context.Background(), strings.NewReader(msg), Envelope{Recipient: "alice@example.com", Sender: "a@example.net"})
			exit := 0
			if err != nil {
				d, _ := diag.As(err)
				exit = d.ExitCode()
			}
			if exit != c.exit {
				t.Fatalf("exit %d, want %d (%v)", exit, c.exit, err)
			}
			box := filepath.Join(root, "example.com", "alice", "Maildir")
			var got []string
			var infos []os.FileInfo
			for _, dir := range []string{box, filepath.Join(box, ".Lists.Go")} {
				for _, f := range newFiles(t, dir) {
					rel, _ := filepath.Rel(box, filepath.Dir(f))
					if i := strings.Index(filepath.Base(f), ":2,"); i >= 0 {
						rel += filepath.Base(f)[i:]
					}
					got = append(got, rel)
					st, _ := os.Stat(f)
					infos = append(infos, st)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.files, " ") {
				t.Errorf("stored %v, want %v", got, c.files)
			}
			for i := 1; i < len(infos); i++ {
				if !os.SameFile(infos[0], infos[i]) {
					t.Error("stores of one message are not one file")
				}
			}
			if len(c.f.seen) != 1 {
				t.Fatalf("filter called %d times", len(c.f.seen))
			}
			m := c.f.seen[0]
			if m.Header.Value("Subject") != "filtered" || m.Header.Value("Delivered-To") != "" {
				t.Errorf("filter header: Subject %q, Delivered-To %q (ebb's own prefix must not show)", m.Header.Value("Subject"), m.Header.Value("Delivered-To"))
			}
			if !bytes.HasSuffix(c.f.body[0], []byte(msg)) || int64(len(c.f.body[0])) != m.Size || !bytes.Equal(c.f.body[0][m.Offset:], []byte(msg)) {
				t.Errorf("filter view: size %d offset %d file %q", m.Size, m.Offset, c.f.body[0])
			}
			if c.name == "redirect and vacation go to the caller" && (len(rep.Redirects) != 1 || len(rep.Outbound) != 1) {
				t.Errorf("report redirects %v outbound %v", rep.Redirects, rep.Outbound)
			}
			if c.name == "reject" {
				d, _ := diag.As(err)
				if code, _, text := d.SMTPReply(); code != 550 || !strings.Contains(text, "not wanted here") {
					t.Errorf("reject reply %d %q", code, text)
				}
			}
		})
	}
}

func TestMissingFolderFallsBackToInbox(t *testing.T) {
	a, root := newAgent(t)
	a.Cfg.Mail.CreateFolders = false
	var fellBack []string
	a.FolderFallback = func(why string) { fellBack = append(fellBack, why) }
	rep, err := a.Deliver(context.Background(), strings.NewReader("Subject: x\n\n"), Envelope{Recipient: "alice@example.com", Folder: "Nope"})
	if err != nil {
		t.Fatal(err)
	}
	// Counted (ebb serve: ebb_deliver_folder_fallbacks_total).
	if len(fellBack) != 1 || fellBack[0] != "unusable" {
		t.Errorf("FolderFallback told %q, want [unusable]", fellBack)
	}
	// Said in the outcome (ebb serve's delivery record), not only the log.
	if len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Notes) != 1 || !strings.Contains(rep.Outcomes[0].Notes[0], `folder "Nope" cannot be used`) ||
		!strings.Contains(rep.Outcomes[0].Notes[0], "stored in INBOX") {
		t.Errorf("outcomes %+v", rep.Outcomes)
	}
	box := filepath.Join(root, "example.com", "alice", "Maildir")
	if n := len(newFiles(t, box)); n != 1 {
		t.Errorf("INBOX has %d messages, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(box, ".Nope")); err == nil {
		t.Error("folder created although mail.create_folders = false")
	}
}

func TestMaildirFor(t *testing.T) {
	cfg := config.Defaults()
	cases := map[string]string{
		"alice@Example.COM":   "/var/vmail/example.com/alice/Maildir",
		"Alice.B@example.com": "/var/vmail/example.com/Alice.B/Maildir",
	}
	for in, want := range cases {
		if got, err := MaildirFor(cfg, in); err != nil || got != want {
			t.Errorf("MaildirFor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"noat", "@example.com", "a@", "../x@example.com", "a@../..", "a/b@example.com", ".hidden@example.com"} {
		if got, err := MaildirFor(cfg, bad); err == nil {
			t.Errorf("MaildirFor(%q) = %q, want an error", bad, got)
		}
	}
	_ = maildir.Subdirs
}

func TestMaildirOfPrefersTheMailboxOwn(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = "/srv/vmail"
	if got, err := MaildirOf(cfg, &directory.Mailbox{Address: "a@Example.org"}); err != nil || got != "/srv/vmail/example.org/a/Maildir" {
		t.Errorf("from mail.maildir: %q, %v", got, err)
	}
	if got, err := MaildirOf(cfg, &directory.Mailbox{Address: "a@example.org", Maildir: "/home/a/Maildir"}); err != nil || got != "/home/a/Maildir" {
		t.Errorf("its own: %q, %v", got, err)
	}
	if _, err := MaildirOf(cfg, &directory.Mailbox{Address: "../x@example.org"}); err == nil {
		t.Error("an address that escapes the root has no Maildir")
	}
}

func TestRemoveMaildirDeletesOnlyThatMailbox(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	a := filepath.Join(cfg.Mail.Root, "example.org", "a", "Maildir")
	b := filepath.Join(cfg.Mail.Root, "example.org", "b", "Maildir")
	for _, d := range []string{a, b} {
		os.MkdirAll(filepath.Join(d, "cur"), 0o700)
	}
	path, err := RemoveMaildir(cfg, &directory.Mailbox{Address: "a@example.org"})
	if err != nil || path != a {
		t.Fatalf("RemoveMaildir = %q, %v", path, err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("%s is still there", a)
	}
	if _, err := os.Stat(b); err != nil {
		t.Errorf("the other mailbox's Maildir went too: %v", err)
	}
	if _, err := RemoveMaildir(cfg, &directory.Mailbox{Address: "../a@example.org"}); err == nil {
		t.Error("an address that names no directory removed something")
	} else if d, ok := diag.As(err); !ok || d.ExitCode() != diag.ExDataErr {
		t.Errorf("an address that names no directory: %v", err)
	}
}

// The mail of removed mailboxes: kept and said where, or deleted with
// --delete-mail; a mailbox whose Maildir cannot be named is a failure
// that does not stop the others (each is said: deleted or kept, or the error).
func TestRemoveMailKeepsOrDeletes(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	own := filepath.Join(t.TempDir(), "own", "Maildir")
	mbs := []*directory.Mailbox{{Address: "a@example.org"}, {Address: "../x@example.org"}, {Address: "b@example.org", Maildir: own}}
	for _, p := range []string{filepath.Join(cfg.Mail.Root, "example.org", "a", "Maildir", "cur"), filepath.Join(own, "new")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	a := filepath.Join(cfg.Mail.Root, "example.org", "a", "Maildir")
	var b bytes.Buffer
	errs := RemoveMail(&b, cfg, mbs, false)
	if len(errs) != 1 || b.String() != "mail of a@example.org kept in "+a+"\nmail of b@example.org kept in "+own+"\n" {
		t.Errorf("kept: %v\n%s", errs, b.String())
	}
	for _, p := range []string{a, own} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("kept, yet: %v", err)
		}
	}
	b.Reset()
	errs = RemoveMail(&b, cfg, mbs, true)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "../x@example.org") ||
		b.String() != "mail of a@example.org deleted: "+a+"\nmail of b@example.org deleted: "+own+"\n" {
		t.Errorf("deleted: %v\n%s", errs, b.String())
	}
	for _, p := range []string{a, own} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
}

// Keywords a Sieve script sets (imap4flags) cannot be stored in a Maildir
// file name: the message is stored with the flags that can, and the
// delivery's record (Outcome.Notes: ebb explain) says which were not.
func TestKeywordsNotStoredAreNoted(t *testing.T) {
	a, _ := newAgent(t)
	a.Filter = &filter{d: &Decision{Stores: []Store{{Folder: "INBOX", Flags: []string{`\Seen`, "$Work"}}}}}
	rep, err := a.Deliver(context.Background(), strings.NewReader("Subject: x\n\n"), Envelope{Recipient: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Notes) != 1 || rep.Outcomes[0].Notes[0] != "flags $Work not stored: keywords need the IMAP server" {
		t.Errorf("outcomes %+v", rep.Outcomes)
	}
}

// A stored message maildirsize could not count (root writes past file
// modes, so the write is made to fail here) is delivered, and that is
// said: the log, UsageNotUpdated (ebb_deliver_maildirsize_not_updated_total)
// and the outcome's note (the delivery's record).
func TestMaildirsizeNotUpdatedIsSaid(t *testing.T) {
	a, root := newAgent(t)
	a.Cfg.Mail.Quota = 1 << 20
	var logged strings.Builder
	a.Log = slog.New(slog.NewTextHandler(&logged, nil))
	notUpdated := 0
	a.UsageNotUpdated = func() { notUpdated++ }
	defer func(f func(string, int64, int64) error) { addUsage = f }(addUsage)
	addUsage = func(string, int64, int64) error { return errors.New("no space left on device") }
	rep, err := a.Deliver(context.Background(), strings.NewReader("Subject: x\n\nbody\n"), Envelope{Recipient: "alice@example.com"})
	if err != nil {
		t.Fatalf("the message was stored: %v", err)
	}
	box := filepath.Join(root, "example.com", "alice", "Maildir")
	if n := len(newFiles(t, box)); n != 1 {
		t.Errorf("%d messages in new/, want 1", n)
	}
	if notUpdated != 1 {
		t.Errorf("UsageNotUpdated told %d times, want 1", notUpdated)
	}
	if len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Notes) != 1 ||
		!strings.Contains(rep.Outcomes[0].Notes[0], filepath.Join(box, "maildirsize")+" not updated (no space left on device)") {
		t.Errorf("outcomes %+v, want a note naming maildirsize and why", rep.Outcomes)
	}
	if !strings.Contains(logged.String(), "maildirsize not updated") || !strings.Contains(logged.String(), "no space left on device") {
		t.Errorf("log %q", logged.String())
	}
}
