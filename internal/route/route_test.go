package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// testParts are Parts over a real directory (SQLite in a temp dir, the
// domain example.test, the mailbox alice@example.test), smtpd's own
// inbound policy, no SRS, and the checks given (in order; a non-nil error
// refuses). Nothing remote is planned.
func testParts(t *testing.T, checks ...func() (string, error)) *Parts {
	t.Helper()
	cfg := config.Defaults()
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.Hostname = "mx.example.test"
	cfg.Mail.Root = t.TempDir()
	cfg.Directory.CacheTTL = config.D(0)
	ctx := context.Background()
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	if err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	names := []string{"auth", "scan"}
	return &Parts{
		Config:     cfg,
		Directory:  dir,
		Hostname:   cfg.Server.Hostname,
		Policy:     func(smtpd.Kind) smtpd.Policy { return smtpd.InboundPolicy{Directory: dir} },
		Postmaster: func(context.Context) (string, error) { return "postmaster@example.test", nil },
		ReverseSRS: func(*queue.Envelope) {},
		Check: func(ctx context.Context, m *queue.Message, kind smtpd.Kind, tls bool, passed func(name, header string, notes []string)) (string, string, error) {
			var all string
			for i, c := range checks {
				h, err := c()
				if err != nil {
					return "", names[i], err
				}
				if n, ok := strings.CutPrefix(h, "note: "); ok { // what the check let through
					passed(names[i], "", []string{n})
					continue
				}
				all += h
				passed(names[i], h, nil)
			}
			return all, "", nil
		},
		Relay: func() (*relay.Relay, error) { return nil, errors.New("no relay in this test") },
	}
}

func run(t *testing.T, p *Parts, o Options) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Stdout, o.Stderr = &out, &errOut
	// As cmd/ebb tells it: internal/cli's error printer and exit code.
	c := &cli.Call{Env: &cli.Env{Stdout: &out, Stderr: &errOut}, Name: "ebb route"}
	code = c.End(Run(context.Background(), o, p))
	return code, out.String(), errOut.String()
}

// stagedLeft lists what route left in server.data_dir besides the
// directory's own files: it stages its copies there and removes them.
func stagedLeft(t *testing.T, p *Parts) []string {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(p.Config.Server.DataDir, ".ebb-route-*"))
	return left
}

func TestRunSaysEachRefusalWithTheSessionsReplyAndExitCode(t *testing.T) {
	refuse := diag.New("dmarc", "judge", "", errors.New("DMARC policy reject"))
	refuse.Class, refuse.SMTPCode, refuse.Enhanced, refuse.Public = diag.Permanent, 550, [3]int{5, 7, 1}, "rejected by DMARC policy"
	for _, tc := range []struct {
		name   string
		to     []string
		checks []func() (string, error)
		code   int
		want   []string // lines (or parts of them) in order
	}{
		{name: "unknown recipient", to: []string{"nobody@example.test"}, code: diag.ExNoUser,
			want: []string{"mail     <someone@elsewhere.example> 250 2.1.0 sender ok", "rcpt     <nobody@example.test> 550 5.1.1"}},
		{name: "a check's verdict", to: []string{"alice@example.test"}, code: diag.ExNoPerm,
			checks: []func() (string, error){
				func() (string, error) { return "Authentication-Results: mx.example.test;\r\n\tspf=none\r\n", nil },
				func() (string, error) { return "", refuse },
			},
			want: []string{"rcpt     <alice@example.test> 250 2.1.5 recipient ok", "size ",
				"check    auth: passed, adds Authentication-Results: mx.example.test; spf=none",
				"check    550 5.7.1 rejected by DMARC policy (ref ", "DMARC policy reject"}},
		{name: "a check's note", to: []string{"alice@example.test"}, code: diag.ExNoPerm,
			checks: []func() (string, error){
				func() (string, error) { return "note: hosted-sender check not made: the directory did not say", nil },
				func() (string, error) { return "", refuse },
			},
			want: []string{"check    auth: passed; hosted-sender check not made: the directory did not say",
				"check    550 5.7.1 rejected by DMARC policy (ref "}},
		{name: "our own trouble in a check is temporary", to: []string{"alice@example.test"}, code: diag.ExTempFail,
			checks: []func() (string, error){func() (string, error) { return "", errors.New("spamd: connection refused") }},
			want:   []string{"check    451 4.3.0 Local error, try again later (ref "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testParts(t, tc.checks...)
			code, out, errOut := run(t, p, Options{From: "someone@elsewhere.example", To: tc.to})
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("no %q (in order) in:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, "data     250") {
				t.Errorf("a refused message said it would be queued:\n%s", out)
			}
			if left := stagedLeft(t, p); len(left) > 0 {
				t.Errorf("route left its staged files: %v", left)
			}
		})
	}
}

func TestRunJSONGivesEveryStepAndTheExitCode(t *testing.T) {
	p := testParts(t)
	code, out, _ := run(t, p, Options{From: "", To: []string{"nobody@example.test", "alice@example.test"}, JSON: true})
	var got struct {
		Steps []Step `json:"steps"`
		Exit  int    `json:"exit"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if got.Exit != code || code != diag.ExNoUser {
		t.Errorf("JSON exit %d, Run %d, want %d (the first refusal's)", got.Exit, code, diag.ExNoUser)
	}
	if len(got.Steps) < 4 {
		t.Fatalf("steps %+v", got.Steps)
	}
	first := got.Steps[1]
	if first.Step != "rcpt" || first.Addr != "nobody@example.test" || first.Code != 550 || first.Exit != diag.ExNoUser {
		t.Errorf("refused rcpt step %+v", first)
	}
	if s := got.Steps[2]; s.Step != "rcpt" || s.Addr != "alice@example.test" || s.Code != 250 || s.Exit != 0 {
		t.Errorf("accepted rcpt step %+v", s)
	}
	if left := stagedLeft(t, p); len(left) > 0 {
		t.Errorf("route left its staged files: %v", left)
	}
}

// A message file route cannot read stops it before any step: one diag
// sentence on stderr (through internal/cli, as every command's error),
// exit 66, and nothing on stdout, with --json too (no steps to give).
func TestRunUnreadableMessageIsTheCommandsError(t *testing.T) {
	p := testParts(t)
	missing := filepath.Join(t.TempDir(), "missing.eml")
	for _, asJSON := range []bool{false, true} {
		code, out, errOut := run(t, p, Options{To: []string{"alice@example.test"}, Message: missing, JSON: asJSON})
		if code != diag.ExNoInput || out != "" || !strings.HasPrefix(errOut, "ebb route: cannot read the message "+missing+": no such file or directory") ||
			strings.Count(errOut, "\n") != 1 {
			t.Errorf("json %v: exit %d, stdout %q, stderr %q; want 66, nothing, and the one sentence", asJSON, code, out, errOut)
		}
	}
	if left := stagedLeft(t, p); len(left) > 0 {
		t.Errorf("route left its staged files: %v", left)
	}
}

func TestRunWithoutSRSSecretSaysSoAndIsNotClean(t *testing.T) {
	p := testParts(t)
	p.SRSErr, p.SRSSecret = &os.PathError{Op: "open", Path: "/x/srs.secret", Err: os.ErrNotExist}, "/x/srs.secret"
	code, out, _ := run(t, p, Options{To: []string{"nobody@example.test"}})
	if !strings.HasPrefix(out, "srs      SRS skipped: no secret yet at /x/srs.secret") {
		t.Errorf("first line not the SRS step:\n%s", out)
	}
	if code != diag.ExTempFail {
		t.Errorf("exit %d, want %d (the SRS step's, the first)", code, diag.ExTempFail)
	}
}

func TestGeneratedBounceComesFromMailerDaemon(t *testing.T) {
	dir := t.TempDir()
	path, err := generateMessage(dir, "mx.example.test", "", []string{"a@example.test", "b@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, w := range []string{"From: <MAILER-DAEMON@mx.example.test>\r\n", "To: <a@example.test>, <b@example.test>\r\n", "\r\n\r\nA message generated by ebb route.\r\n"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("no %q in %q", w, b)
		}
	}
	if filepath.Dir(path) != dir {
		t.Errorf("generated in %s, want server.data_dir %s", path, dir)
	}
}

func TestReplyExit(t *testing.T) {
	for _, tc := range []struct {
		code int
		enh  [3]int
		exit int
	}{
		{451, [3]int{4, 3, 0}, diag.ExTempFail},
		{550, [3]int{5, 1, 1}, diag.ExNoUser},
		{550, [3]int{5, 7, 1}, diag.ExNoPerm},
		{552, [3]int{5, 3, 4}, diag.ExDataErr},
		{554, [3]int{5, 6, 0}, diag.ExUnavailable},
	} {
		if got := replyExit(tc.code, tc.enh); got != tc.exit {
			t.Errorf("replyExit(%d, %v) = %d, want %d", tc.code, tc.enh, got, tc.exit)
		}
	}
}

func TestOptionsCheckTheCommandLine(t *testing.T) {
	for _, tc := range []struct {
		o   Options
		bad string
	}{
		{Options{To: []string{"a@example.org"}, Port: 25}, ""},
		{Options{To: []string{"a@example.org"}, Port: 587, Auth: "a@example.org"}, ""},
		{Options{Port: 25}, "give at least one --to"},
		{Options{To: []string{"a@example.org"}, Port: 465}, "--port is 25 or 587"},
		{Options{To: []string{"a@example.org"}, Port: 25, Auth: "a@example.org"}, "--auth goes with --port 587"},
	} {
		err := tc.o.Check()
		if (err == nil) != (tc.bad == "") || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.bad)
		}
	}
}

// The Sieve step of a dry run says what the vacation response's From:
// would be where the filter replaced the script's :from (its Note): the
// filter logs nothing about a response it does not send.
func TestSieveStepSaysTheVacationNote(t *testing.T) {
	var out bytes.Buffer
	r := &router{o: Options{Stdout: &out}}
	note := `the vacation response would be sent from <bob@example.test>, the mailbox's own address, not from the script's :from "ceo@example.test": the mailbox may not send as it (submission.sender_policy) (dry run: nothing sent)`
	r.sieveSteps(&directory.Mailbox{Address: "bob@example.test"}, &deliver.Decision{
		Outbound: []deliver.Outbound{{Recipients: []string{"alice@example.org"}, Note: note}}})
	if want := "vacation reply to alice@example.org (would be sent; not sent, not remembered): " + note; len(r.steps) != 1 || r.steps[0].Text != want ||
		!strings.Contains(out.String(), want) {
		t.Errorf("steps %+v, output %q; want %q", r.steps, out.String(), want)
	}
}
