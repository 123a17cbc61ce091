package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

func TestProbeDir(t *testing.T) {
	d := t.TempDir()
	if e := ProbeDir(d, nil); e != nil {
		t.Fatalf("probe of a writable directory: %s", e.Sentence())
	}
	if ents, _ := os.ReadDir(d); len(ents) != 0 {
		t.Errorf("the probe left %v behind", ents)
	}
	missing := filepath.Join(d, "nope")
	e := ProbeDir(missing, &diag.Setting{Key: "mail.root", Value: missing})
	if e == nil {
		t.Fatal("probe of a missing directory passed")
	}
	if e.Op != "create" || e.Path != missing || e.Errno != "ENOENT" || e.Setting == nil || e.Hint == "" {
		t.Errorf("probe error %+v", e)
	}
	if !strings.HasPrefix(e.Sentence(), "ebb doctor: cannot create a file in "+missing+": no such file or directory") {
		t.Errorf("sentence %q", e.Sentence())
	}
}

func TestMaildirGlob(t *testing.T) {
	cases := map[[2]string]string{
		{"{root}/{domain}/{local}/Maildir", "/var/mail"}: "/var/mail/*/*/Maildir",
		{"/home/vmail/{address}", "/x"}:                  "/home/vmail/*@*",
		{"{root}/{domain}/{local}", "/odd[dir]*"}:        `/odd\[dir]\*/*/*`,
	}
	for in, want := range cases {
		if got := MaildirGlob(in[0], in[1]); got != want {
			t.Errorf("MaildirGlob(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestRunAndReport(t *testing.T) {
	checks := []Check{
		{Name: "a", Run: func(ctx context.Context, env *Env) []Finding { return []Finding{Passed("a", "/x", "fine")} }},
		{Name: "b", Run: func(ctx context.Context, env *Env) []Finding {
			return []Finding{Warned("b", diag.New("stat", "", "/y", os.ErrPermission))}
		}},
	}
	fs := Run(context.Background(), &Env{}, checks)
	if len(fs) != 2 || AnyFailed(fs) {
		t.Fatalf("findings %+v", fs)
	}
	fs = append(fs, Failed("c", diag.New("create", "create a file in", "/z", os.ErrPermission)))
	if !AnyFailed(fs) {
		t.Error("a failure is not noticed")
	}
	var text bytes.Buffer
	WriteText(&text, fs)
	for _, want := range []string{"ok    a                /x: fine", "WARN  b", "FAIL  c                ebb doctor: cannot create a file in /z", "3 findings: 1 failed, 1 warning"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	WriteJSON(&js, fs)
	var doc struct {
		Failed   bool
		Findings []Finding
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || !doc.Failed || len(doc.Findings) != 3 || doc.Findings[2].Err.Path != "/z" {
		t.Errorf("json %v %+v", err, doc)
	}
}

// The mail checks, in-process as the current user: a healthy layout
// passes; a Maildir without new/ fails naming it.
func TestMailChecks(t *testing.T) {
	root := t.TempDir()
	cfg, err := config.Parse("t.toml", []byte("[mail]\nroot = \""+root+"\"\n[doctor]\nmin_free = \"0\"\nmin_free_inodes = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.User = diag.Self().User
	box := filepath.Join(root, "example.com", "alice", "Maildir")
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(box, s), 0o700)
	}
	env := &Env{Cfg: cfg, Probe: &Prober{}}
	fs := Run(context.Background(), env, mailChecks())
	for _, f := range fs {
		if f.Status == Fail {
			t.Errorf("healthy layout: %s", f.Message)
		}
	}
	os.Remove(filepath.Join(box, "new"))
	fs = Run(context.Background(), env, mailChecks())
	var fail []string
	for _, f := range fs {
		if f.Status == Fail {
			fail = append(fail, f.Message)
		}
	}
	if len(fail) != 1 || !strings.Contains(fail[0], "lacks new/") {
		t.Errorf("failures %q", fail)
	}
}

// Who doctor's probes run as: as root, server.user; the stand-in (nobody)
// when that user does not exist; this process for root itself or when not
// run as root.
func TestProberFor(t *testing.T) {
	cfg := config.Defaults()
	for _, c := range []struct {
		user, as, standInFor string
	}{
		{"nobody", "nobody", ""},
		{"ebb-no-such-user", "nobody", "ebb-no-such-user"},
		{"root", "", ""},
	} {
		cfg.Server.User, cfg.Server.Group = c.user, ""
		p := ProberFor(cfg)
		want := c.as
		if os.Geteuid() != 0 {
			want = "" // an ordinary user probes as itself
		}
		got, standIn := "", ""
		if p.As != nil {
			got, standIn = p.As.Name, p.As.StandInFor
		}
		if got != want || (want != "" && standIn != c.standInFor) {
			t.Errorf("server.user %s: probes as %q (stand-in for %q), want %q (%q)", c.user, got, standIn, want, c.standInFor)
		}
	}
}

// A pickup socket path too long for a Unix socket names the setting that
// chose it: sendmail.socket when that is set, else sendmail.pickup_dir.
func TestPickupSocketTooLongNamesItsSetting(t *testing.T) {
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755) // every user passes through to the pickup directory
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "pickup")
	os.Mkdir(dir, 0o755)
	syscall.Chmod(dir, 0o3733)
	long := filepath.Join(base, strings.Repeat("s", 120)+".sock")
	for _, tc := range []struct{ socket, key string }{{long, "sendmail.socket"}, {"", "sendmail.pickup_dir"}} {
		pickupDir := dir
		if tc.socket == "" {
			pickupDir = filepath.Join(base, strings.Repeat("p", 110))
			os.Mkdir(pickupDir, 0o755)
			syscall.Chmod(pickupDir, 0o3733)
		}
		cfg, err := config.Parse("t.toml", []byte("[sendmail]\npickup_dir = \""+pickupDir+"\"\nsocket = \""+tc.socket+"\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Server.User = diag.Self().User
		fs := checkPickup(context.Background(), &Env{Cfg: cfg, Probe: &Prober{}})
		if len(fs) != 1 || fs[0].Status != Fail || fs[0].Err == nil || fs[0].Err.Setting == nil || fs[0].Err.Setting.Key != tc.key {
			t.Errorf("socket %q: %+v; want a failure naming %s", tc.socket, fs, tc.key)
		} else if fix := fs[0].Err.Fix.String(); !strings.Contains(fix, tc.key) {
			t.Errorf("socket %q: fix %q does not name %s", tc.socket, fix, tc.key)
		}
	}
}
