package sievefilter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/sieve"
)

func TestExtensionsSpec(t *testing.T) {
	for _, c := range []struct {
		name     string
		base     []string
		spec     string
		has, not []string
		err      bool
	}{
		{"all has editheader", nil, "all", []string{"editheader", "spamtest", "ereject"}, nil, false},
		{"pigeonhole lacks the unconfigured ones", nil, "pigeonhole", []string{"fileinto", "regex"}, []string{"editheader", "vacation-seconds", "spamtest", "ereject"}, false},
		{"plus adds", nil, "pigeonhole +editheader", []string{"editheader"}, nil, false},
		{"minus removes", nil, "all -regex", nil, []string{"regex"}, false},
		{"relative to the base", []string{"fileinto"}, "+envelope", []string{"fileinto", "envelope"}, nil, false},
		{"none clears", []string{"fileinto"}, "none +envelope", []string{"envelope"}, []string{"fileinto"}, false},
		{"commas work", nil, "fileinto,envelope", []string{"fileinto", "envelope"}, nil, false},
		{"unknown is an error", nil, "+vnd.example.x", nil, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Extensions(c.base, c.spec)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			for _, h := range c.has {
				if !slices.Contains(got, h) {
					t.Errorf("%q lacks %s: %v", c.spec, h, got)
				}
			}
			for _, n := range c.not {
				if slices.Contains(got, n) {
					t.Errorf("%q has %s: %v", c.spec, n, got)
				}
			}
		})
	}
}

// The cache compiles a script once and again only when its file changes:
// content with the same size and mtime moved, a new inode (an editor's
// rename, a re-pointed ~/.dovecot.sieve link).
func TestCacheRecompilesOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.sieve")
	write := func(src string) {
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := NewCache()
	opts := sieve.Options{}
	if _, err := c.Get(p, "", opts); !errors.Is(err, ErrNoScript) {
		t.Fatalf("missing file: err %v, want ErrNoScript", err)
	}
	write("keep;\n")
	s1, err := c.Get(p, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Get(p, "", opts)
	if s1 != s2 {
		t.Error("an unchanged file was compiled again")
	}
	// Same size, new content, mtime moved on.
	write("stop;\n")
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	s3, _ := c.Get(p, "", opts)
	if s3 == s2 {
		t.Error("a changed file was not recompiled")
	}
	// A new inode through rename, mtime and size unchanged.
	st, _ := os.Stat(p)
	q := filepath.Join(dir, "new.sieve")
	os.WriteFile(q, []byte("stop;\n"), 0o600)
	os.Chtimes(q, st.ModTime(), st.ModTime())
	os.Rename(q, p)
	s4, _ := c.Get(p, "", opts)
	if s4 == s3 {
		t.Error("a replaced file (new inode) was not recompiled")
	}
	// Other options are another entry.
	s5, _ := c.Get(p, "other", opts)
	if s5 == s4 {
		t.Error("the same file under other options shares a compiled script")
	}
	write("frobnicate;\n")
	os.Chtimes(p, time.Now().Add(2*time.Hour), time.Now().Add(2*time.Hour))
	if _, err := c.Get(p, "", opts); !IsCompileError(err) {
		t.Errorf("broken script: err %v, want a compile error", err)
	}
}

func TestRedirectReaderDropsReturnPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	in := "Return-Path: <a@example.org>\nDelivered-To: b@example.com\nReturn-Path: <x@example.org>\n  folded\nSubject: s\n\nReturn-Path: body line stays\n"
	os.WriteFile(p, []byte(in), 0o600)
	r, err := redirectReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := io.ReadAll(r)
	want := "Delivered-To: b@example.com\nSubject: s\n\nReturn-Path: body line stays\n"
	if string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestVacationReplyIsAnAutoReply(t *testing.T) {
	orig := []sieve.HeaderField{{Name: "Subject", Value: " =?UTF-8?Q?Caf=C3=A9?="}, {Name: "Message-ID", Value: " <m1@example.org>"}, {Name: "References", Value: " <m0@example.org>"}}
	b := string(vacationReply(sieve.Vacation{To: "alice@example.org", Reason: "Away.\nBack Monday."}, orig, "bob@example.com", "mx.example.com", time.Unix(0, 0)))
	for _, want := range []string{"From: bob@example.com\r\n", "To: <alice@example.org>\r\n", "Subject: =?utf-8?q?Auto:_Caf=C3=A9?=\r\n",
		"In-Reply-To: <m1@example.org>\r\n", "References: <m0@example.org> <m1@example.org>\r\n",
		"Auto-Submitted: auto-replied (vacation)\r\n", "\r\n\r\nAway.\r\nBack Monday.\r\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("reply lacks %q:\n%s", want, b)
		}
	}
}

// recordingOutbox keeps what a Filter sends, and the Note of each.
type recordingOutbox struct{ sent, notes []string }

func (o *recordingOutbox) Send(ctx context.Context, sender string, rcpts []string, data io.Reader) (string, error) {
	b, _ := io.ReadAll(data)
	o.sent = append(o.sent, "<"+sender+"> "+strings.Join(rcpts, ",")+"\n"+string(b))
	o.notes = append(o.notes, Note(ctx))
	return "id", nil
}

func newTestFilter(t *testing.T, script string) (*Filter, *directory.Mailbox, *recordingOutbox, *bytes.Buffer) {
	t.Helper()
	root := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(root, "data")
	md := filepath.Join(root, "bob", "Maildir")
	os.MkdirAll(md, 0o700)
	if script != "" {
		os.WriteFile(filepath.Join(root, "bob", ".dovecot.sieve"), []byte(script), 0o600)
	}
	var logb bytes.Buffer
	out := &recordingOutbox{}
	f := New(cfg, slogTo(&logb), out)
	return f, &directory.Mailbox{Address: "bob@example.com", Maildir: md}, out, &logb
}

func decide(t *testing.T, f *Filter, mb *directory.Mailbox, msg string, sender string) *deliver.Decision {
	t.Helper()
	p := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(p, []byte(msg), 0o600)
	d, err := f.Decide(context.Background(), mb, &deliver.Message{Path: p, Size: int64(len(msg))}, deliver.Envelope{Sender: sender, Recipient: mb.Address})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const testMsg = "From: alice@example.org\nTo: bob@example.com\nSubject: invoice 7\nMessage-ID: <i7@example.org>\n\nBody.\n"

func TestDecideTranslatesActions(t *testing.T) {
	f, mb, out, _ := newTestFilter(t, `require ["fileinto", "imap4flags", "copy", "vacation"];
fileinto :copy :flags "\\Seen" "Finance";
redirect :copy "archive@example.net";
vacation "Away.";
`)
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if len(d.Stores) != 2 || d.Stores[0].Folder != "Finance" || !slices.Equal(d.Stores[0].Flags, []string{`\Seen`}) || d.Stores[1].Folder != "" {
		t.Errorf("stores %+v, want Finance with \\Seen, then the implicit keep", d.Stores)
	}
	if len(out.sent) != 2 || !strings.HasPrefix(out.sent[0], "<alice@example.org> archive@example.net\n") || !strings.HasPrefix(out.sent[1], "<> alice@example.org\n") {
		t.Errorf("sent %q, want the redirect (original sender) and a vacation reply from <>", out.sent)
	}
	// The same sender again: answered already, no second reply.
	d = decide(t, f, mb, testMsg, "alice@example.org")
	if len(out.sent) != 3 || !strings.HasPrefix(out.sent[2], "<alice@example.org> archive@example.net\n") {
		t.Errorf("after the second message %q were sent, want 3 (redirect, reply, redirect)", out.sent)
	}
	if len(d.Stores) != 2 || d.Stores[0].Folder != "Finance" || d.Stores[1].Folder != "" {
		t.Errorf("second message: stores %+v, want Finance, then the implicit keep", d.Stores)
	}
}

func TestDecideBrokenScriptKeepsAndLogs(t *testing.T) {
	f, mb, _, logb := newTestFilter(t, "require \"fileinto\";\nfileinto \"x\"\n")
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if len(d.Stores) != 1 || d.Stores[0].Folder != "" || d.Discard || d.Reject != "" {
		t.Errorf("decision %+v, want keep in INBOX", d)
	}
	if !strings.Contains(logb.String(), "script does not compile") || !strings.Contains(logb.String(), "line 3") {
		t.Errorf("log %q lacks the compile error", logb.String())
	}
}

func TestDecideNoScriptIsNoDecision(t *testing.T) {
	f, mb, _, _ := newTestFilter(t, "")
	if d := decide(t, f, mb, testMsg, "alice@example.org"); d != nil {
		t.Errorf("decision %+v without a script, want nil (deliver's default)", d)
	}
}

func TestDecideRuntimeErrorKeeps(t *testing.T) {
	f, mb, out, logb := newTestFilter(t, "redirect \"a@x.example\";\nredirect \"b@x.example\";\nredirect \"c@x.example\";\nredirect \"d@x.example\";\nredirect \"e@x.example\";\n")
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if len(d.Stores) != 1 || len(out.sent) != 0 {
		t.Errorf("decision %+v, sent %d: want keep and no redirect after the limit error", d, len(out.sent))
	}
	if !strings.Contains(logb.String(), "failed at run time") {
		t.Errorf("log %q lacks the runtime error", logb.String())
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestFileintoCreateMakesTheFolderEvenWithoutCreateFolders(t *testing.T) {
	f, mb, _, _ := newTestFilter(t, "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"New\";\nfileinto \"Other\";\n")
	f.Cfg.Mail.CreateFolders = false
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if len(d.Stores) != 2 {
		t.Fatalf("stores %+v", d.Stores)
	}
	if st, err := os.Stat(filepath.Join(mb.Maildir, ".New", "cur")); err != nil || !st.IsDir() {
		t.Errorf("fileinto :create did not create .New: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mb.Maildir, ".Other")); err == nil {
		t.Errorf("fileinto without :create created .Other although mail.create_folders = false")
	}
}

func TestCompileFileAsDeliveryWould(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "common.sieve"), []byte("require \"fileinto\";\nfileinto \"Lists\";\n"), 0o644)
	script := filepath.Join(dir, "main.sieve")
	os.WriteFile(script, []byte("require \"include\";\ninclude :personal \"common\";\n"), 0o644)
	cfg := config.Defaults()
	s, err := CompileFile(cfg, script, Dirs{}, "")
	if err != nil {
		t.Fatalf("the personal include is found beside the script: %v", err)
	}
	if !slices.Contains(s.Requires(), "include") {
		t.Errorf("requires %q", s.Requires())
	}
	// The extension spec changes sieve.extensions: without fileinto the
	// included script does not compile.
	if _, err := CompileFile(cfg, script, Dirs{}, "-fileinto"); !IsCompileError(err) {
		t.Errorf("with -fileinto: %v, want a compile error", err)
	}
	if _, err := CompileFile(cfg, script, Dirs{Personal: t.TempDir()}, ""); !IsCompileError(err) {
		t.Errorf("include from an empty personal directory: %v, want a compile error", err)
	}
	if _, err := CompileFile(cfg, filepath.Join(dir, "missing.sieve"), Dirs{}, ""); !errors.Is(err, os.ErrNotExist) || IsCompileError(err) {
		t.Errorf("a missing script: %v", err)
	}
	if _, err := CompileFile(cfg, script, Dirs{}, "+vnd.nope"); err == nil || IsCompileError(err) {
		t.Errorf("an unknown extension in the spec: %v", err)
	}
}

// ebb sieve check: each script that compiles says ok with what it
// requires; one that does not gives FILE:LINE:COL lines; a missing one is
// named. ebb sieve test's exit codes: 2 does not compile, 66 unreadable.
func TestCheckFilesAndCompileReported(t *testing.T) {
	dir := t.TempDir()
	good, bad, missing := filepath.Join(dir, "good.sieve"), filepath.Join(dir, "bad.sieve"), filepath.Join(dir, "missing.sieve")
	os.WriteFile(good, []byte("require \"fileinto\";\nfileinto \"Lists\";\n"), 0o644)
	os.WriteFile(bad, []byte("keep;\nnosuchcommand;\n"), 0o644)
	cfg := config.Defaults()
	var out, errOut bytes.Buffer
	if !CheckFiles(&out, &errOut, cfg, []string{good}, Dirs{}, "") || out.String() != good+": ok (requires: fileinto)\n" || errOut.Len() != 0 {
		t.Errorf("good: %q %q", out.String(), errOut.String())
	}
	out.Reset()
	if CheckFiles(&out, &errOut, cfg, []string{bad, good, missing}, Dirs{}, "") || !strings.Contains(out.String(), good+": ok") ||
		!strings.HasPrefix(errOut.String(), bad+":2:") || !strings.Contains(errOut.String(), missing) {
		t.Errorf("bad, good, missing: %q %q", out.String(), errOut.String())
	}
	for path, want := range map[string]int{good: 0, bad: 2, missing: 66} {
		errOut.Reset()
		s, code := CompileReported(&errOut, cfg, path, Dirs{}, "")
		if code != want || (s != nil) != (want == 0) || (errOut.Len() > 0) == (want == 0) {
			t.Errorf("%s: code %d, script %v, said %q; want %d", path, code, s != nil, errOut.String(), want)
		}
	}
}

func TestScriptTestPrintsTheActions(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("Return-Path: <list@example.net>\r\nFrom: Alice <alice@example.org>\r\nDelivered-To: bob@example.org\r\nSubject: hi\r\n\r\nbody\r\n"), 0o644)
	script := filepath.Join(dir, "s.sieve")
	cfg := config.Defaults()
	os.WriteFile(script, []byte(`require ["fileinto", "envelope", "mailbox", "spamtest", "relational", "comparator-i;ascii-numeric"];
if envelope :is "from" "list@example.net" { fileinto "Lists"; }
if envelope :is "to" "bob@example.org" { fileinto "ToBob"; }
if mailboxexists "Work" { fileinto "Work"; }
if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { discard; }
`), 0o644)
	s, err := CompileFile(cfg, script, Dirs{}, "")
	if err != nil {
		t.Fatal(err)
	}
	// The envelope from the message; Work not there; no spam score.
	lines, failed, err := ScriptTest{}.Test(context.Background(), s, msg)
	if err != nil || failed || strings.Join(lines, "|") != `fileinto "Lists"|fileinto "ToBob"` {
		t.Errorf("from the message: %q, %v, %v", lines, failed, err)
	}
	// Given on the command line, a Maildir with Work, a spam score.
	top := t.TempDir()
	os.MkdirAll(filepath.Join(top, ".Work", "cur"), 0o700)
	o := ScriptTest{Envelope: sieve.Envelope{From: "<>", To: "carol@example.org"}, FromSet: true, ToSet: true, Maildir: top,
		Runtime: sieve.Runtime{SpamScore: 7}}
	lines, _, err = o.Test(context.Background(), s, msg)
	if err != nil || strings.Join(lines, "|") != `fileinto "Work"|discard` {
		t.Errorf("given envelope: %q, %v", lines, err)
	}
	// A script that fails at run time: the message would be kept.
	cfg.Sieve.MaxActions = 1
	if s, err = CompileFile(cfg, script, Dirs{}, ""); err != nil {
		t.Fatal(err)
	}
	lines, failed, err = ScriptTest{}.Test(context.Background(), s, msg)
	if err != nil || !failed || len(lines) != 2 || !strings.HasPrefix(lines[0], "error ") || lines[1] != "implicit keep" {
		t.Errorf("too many actions: %q, %v, %v", lines, failed, err)
	}
	// A message that is not there.
	_, _, err = ScriptTest{}.Test(context.Background(), s, filepath.Join(dir, "none.eml"))
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != 66 {
		t.Errorf("a missing message: %v", err)
	}
}

// ebb sieve test as a whole: the actions one a line; exit 1 for a
// failure at run time (the lines still said), 2 for a script that does
// not compile (its errors on errOut, nothing on w), 66 for a message that
// is not there.
func TestScriptTestRun(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("From: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n"), 0o644)
	good, bad := filepath.Join(dir, "good.sieve"), filepath.Join(dir, "bad.sieve")
	os.WriteFile(good, []byte("require \"fileinto\";\nfileinto \"Lists\";\nkeep;\n"), 0o644)
	os.WriteFile(bad, []byte("keep;\nnosuchcommand;\n"), 0o644)
	cfg := config.Defaults()
	var out, errOut bytes.Buffer
	if err := (ScriptTest{}).Run(context.Background(), &out, &errOut, cfg, good, msg, Dirs{}, ""); err != nil || out.String() != "fileinto \"Lists\"\nkeep\n" || errOut.Len() != 0 {
		t.Errorf("good: %v, %q, %q", err, out.String(), errOut.String())
	}
	out.Reset()
	if err := (ScriptTest{}).Run(context.Background(), &out, &errOut, cfg, bad, msg, Dirs{}, ""); err != cli.Exit(2) || out.Len() != 0 || !strings.HasPrefix(errOut.String(), bad+":2:") {
		t.Errorf("bad: %v, %q, %q", err, out.String(), errOut.String())
	}
	var ec interface{ ExitCode() int }
	if err := (ScriptTest{}).Run(context.Background(), &out, &errOut, cfg, good, filepath.Join(dir, "none.eml"), Dirs{}, ""); !errors.As(err, &ec) || ec.ExitCode() != 66 {
		t.Errorf("a missing message: %v", err)
	}
	cfg.Sieve.MaxActions = 1
	out.Reset()
	if err := (ScriptTest{}).Run(context.Background(), &out, &errOut, cfg, good, msg, Dirs{}, ""); err != cli.Exit(1) || !strings.HasPrefix(out.String(), "error ") || !strings.HasSuffix(out.String(), "implicit keep\n") {
		t.Errorf("too many actions: %v, %q", err, out.String())
	}
}

// resentOutbox records, for each message, whether the Filter marked it a
// redirect (Resent): the received message sent on, not one the script wrote.
type resentOutbox struct{ resent []bool }

func (o *resentOutbox) Send(ctx context.Context, _ string, _ []string, data io.Reader) (string, error) {
	io.Copy(io.Discard, data)
	o.resent = append(o.resent, Resent(ctx))
	return "id", nil
}

func TestRedirectIsMarkedResentVacationIsNot(t *testing.T) {
	f, mb, _, _ := newTestFilter(t, `require ["copy", "vacation"];
redirect :copy "archive@example.net";
vacation "Away.";
`)
	out := &resentOutbox{}
	f.Outbox = out
	decide(t, f, mb, testMsg, "alice@example.org")
	if !slices.Equal(out.resent, []bool{true, false}) {
		t.Errorf("resent marks %v, want the redirect marked and the vacation response not", out.resent)
	}
}

// A vacation :from is the user writing as someone: only an address the
// mailbox may send as (MayWriteAs: submission.sender_policy in ebb serve;
// without it, the mailbox's own) goes in the response's From:, which is
// signed as it leaves. Another one is replaced by the mailbox's address
// and the log says so; a script cannot send text of its choosing in
// another user's name to whoever writes to it.
func TestVacationFromIsAnAddressOfTheMailbox(t *testing.T) {
	for _, c := range []struct {
		name, from string
		may        func(ctx context.Context, mailbox, addr string) (bool, error)
		want       string
		why        string // in the note and the log line
	}{
		{"someone else", `"The CEO" <ceo@example.com>`, nil, "From: bob@example.com\r\n", "may not send as it"},
		{"the mailbox's own, another spelling", "Bob <BOB@example.com>", nil, "From: Bob <BOB@example.com>\r\n", ""},
		{"an address the rule allows", "info@example.com", func(_ context.Context, mb, a string) (bool, error) {
			return mb == "bob@example.com" && a == "info@example.com", nil
		}, "From: info@example.com\r\n", ""},
		{"an address the rule refuses", "ceo@example.com", func(context.Context, string, string) (bool, error) { return false, nil }, "From: bob@example.com\r\n", "may not send as it"},
		// The rule could not be judged: the mailbox's own address, and
		// the record and the log say why, not "may not".
		{"the rule cannot be judged", "info@example.com", func(context.Context, string, string) (bool, error) {
			return false, errors.New("the directory did not answer (database is closed)")
		}, "From: bob@example.com\r\n", "could not be judged: the directory did not answer (database is closed)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, mb, out, logb := newTestFilter(t, "require \"vacation\";\nvacation :from "+strconv.Quote(c.from)+" \"Away.\";\n")
			f.MayWriteAs = c.may
			replaced := 0
			f.FromReplaced = func() { replaced++ }
			decide(t, f, mb, testMsg, "alice@example.org")
			if len(out.sent) != 1 || !strings.Contains(out.sent[0], "\r\n"+c.want) && !strings.HasPrefix(strings.SplitN(out.sent[0], "\n", 2)[1], c.want) {
				t.Fatalf("sent %q, want a response with %q", out.sent, c.want)
			}
			if refused := !strings.Contains(c.want, c.from); refused != strings.Contains(logb.String(), "vacation :from") {
				t.Errorf("refused %v, but the log says:\n%s", refused, logb.String())
			}
			if refused := !strings.Contains(c.want, c.from); (replaced == 1) != refused || replaced > 1 {
				t.Errorf("refused %v, but FromReplaced was called %d times (the metric counts it)", refused, replaced)
			}
			// The outbox is told, for the response's record (ebb serve
			// journals it).
			note := out.notes[0]
			if refused := !strings.Contains(c.want, c.from); refused != (note != "") ||
				refused && !strings.Contains(note, "sent from <bob@example.com>") || refused && !strings.Contains(note, strconv.Quote(c.from)) {
				t.Errorf("refused %v, but the response's Note is %q", refused, note)
			}
			if c.why != "" && !strings.Contains(note, c.why) {
				t.Errorf("the response's Note %q does not say %q", note, c.why)
			}
			if c.why != "" && strings.HasPrefix(c.why, "could not") && (strings.Contains(note, "may not send") || !strings.Contains(logb.String(), "database is closed")) {
				t.Errorf("the rule could not be judged, but the Note %q or the log %q says otherwise", note, logb.String())
			}
		})
	}
}

// A dry run (ebb route, the quota check at the end of DATA) sends no
// vacation response: it logs no warning about the response's From: and
// does not count it (FromReplaced); the Outbound it returns says what a
// delivery would do, and that nothing was sent.
func TestDryRunVacationFromIsNotLogged(t *testing.T) {
	f, mb, out, logb := newTestFilter(t, "require \"vacation\";\nvacation :from \"ceo@example.com\" \"Away.\";\n")
	f.DryRun = true
	replaced := 0
	f.FromReplaced = func() { replaced++ }
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if len(out.sent) != 0 {
		t.Fatalf("a dry run sent %q", out.sent)
	}
	if logb.Len() != 0 {
		t.Errorf("a dry run logged:\n%s", logb.String())
	}
	if replaced != 0 {
		t.Errorf("a dry run counted %d :from replacements", replaced)
	}
	if len(d.Outbound) != 1 || !strings.Contains(string(d.Outbound[0].Data), "From: bob@example.com\r\n") {
		t.Fatalf("outbound %+v, want the response from the mailbox's address", d.Outbound)
	}
	if n := d.Outbound[0].Note; !strings.Contains(n, "would be sent from <bob@example.com>") || !strings.Contains(n, `"ceo@example.com"`) ||
		!strings.Contains(n, "dry run: nothing sent") {
		t.Errorf("the response's Note is %q", n)
	}
	// Nor does it say that a response it would not send is not sent.
	if d := decide(t, f, mb, testMsg, ""); len(d.Outbound) != 0 || logb.Len() != 0 {
		t.Errorf("a dry run for <>: outbound %+v, logged:\n%s", d.Outbound, logb.String())
	}
}

// A script skipped (a sieve.before script missing, the user's script
// broken) is logged, counted (Skipped) and said in the Decision's Notes,
// which ebb serve journals with the delivery (principle 7).
func TestSkippedScriptsAreNoted(t *testing.T) {
	f, mb, _, logb := newTestFilter(t, "this is not sieve\n")
	gone := filepath.Join(t.TempDir(), "gone.sieve")
	f.Cfg.Sieve.Before = []string{gone}
	var why []string
	f.Skipped = func(w string) { why = append(why, w) }
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if d == nil || len(d.Stores) != 1 || d.Stores[0].Folder != "" {
		t.Fatalf("decision %+v, want the message kept", d)
	}
	if len(d.Notes) != 2 || !strings.Contains(d.Notes[0], "Sieve script "+gone+" (sieve.before) missing: skipped") ||
		!strings.Contains(d.Notes[1], "does not compile") || !strings.Contains(d.Notes[1], "the message is kept") {
		t.Errorf("notes %q", d.Notes)
	}
	if !slices.Equal(why, []string{"missing", "compile"}) {
		t.Errorf("Skipped called with %v, want [missing compile]", why)
	}
	if !strings.Contains(logb.String(), "global script missing, skipped") || !strings.Contains(logb.String(), "does not compile") {
		t.Errorf("log:\n%s", logb.String())
	}

	// Only the missing one: the user's script is not there (normal), the
	// note says the before script was skipped.
	f, mb, _, _ = newTestFilter(t, "")
	f.Cfg.Sieve.Before = []string{gone}
	d = decide(t, f, mb, testMsg, "alice@example.org")
	if d == nil || len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "missing: skipped") {
		t.Errorf("decision %+v", d)
	}
}

// A vacation response that cannot be queued leaves the message delivered
// and is said: the log, VacationNotSent (ebb serve's metric) and a note
// in the Decision (the delivery's record, ebb explain).
func TestVacationNotSentIsNoted(t *testing.T) {
	f, mb, _, logb := newTestFilter(t, "require \"vacation\";\nvacation \"Away.\";\n")
	f.Outbox = failingOutbox{}
	n := 0
	f.VacationNotSent = func() { n++ }
	d := decide(t, f, mb, testMsg, "alice@example.org")
	if d == nil || len(d.Stores) != 1 {
		t.Fatalf("decision %+v, want the message kept", d)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "vacation response to <alice@example.org> not sent: it could not be queued (queue full)") {
		t.Errorf("notes %q", d.Notes)
	}
	if n != 1 {
		t.Errorf("VacationNotSent called %d times, want 1", n)
	}
	if !strings.Contains(logb.String(), "vacation response not sent") {
		t.Errorf("log %q", logb.String())
	}
}
