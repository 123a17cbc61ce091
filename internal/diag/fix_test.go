package diag

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The text of a fix follows the grammar in fix.go's comment, step by step.
func TestFixTextGrammar(t *testing.T) {
	s := &Setting{Key: "mail.root", Value: "/var/mail", Default: true, File: "/etc/ebb/ebb.toml"}
	demo := &Setting{Key: "relay.tls", Value: "none", Config: "ebb-demo/ebb.toml", File: "ebb-demo/ebb.toml"}
	for _, tc := range []struct {
		name string
		fix  *Fix
		want string
	}{
		{"commands quoted for sh", Steps(Command("chown", "vmail:vmail", "/srv/my mail/tmp")),
			`run: chown vmail:vmail '/srv/my mail/tmp'`},
		{"a user's command", Steps(CommandAs("vmail", "ebb", "fetch", "test", "work")),
			`run as vmail: ebb fetch test work`},
		{"set, then restart", Because("why", SetString(s, "/var/vmail"), Restart(s)),
			`why: set mail.root = "/var/vmail" in /etc/ebb/ebb.toml; then restart ebb serve (systemctl restart ebb)`},
		{"another config file", Steps(Set(demo, `"starttls"`), Reload(demo)),
			`set relay.tls = "starttls" in ebb-demo/ebb.toml; then reload ebb serve -c ebb-demo/ebb.toml (kill -HUP its process)`},
		{"check and or", Steps(Say("ask an administrator")).AndCheck("ebb doctor").OrElse(Steps(Command("true"))),
			`ask an administrator; then check: ebb doctor; or instead: run: true`},
		{"a check alone", &Fix{Check: "ebb doctor -c x.toml"}, `run: ebb doctor -c x.toml`},
	} {
		if got := tc.fix.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if TOMLString(`a"b\c`) != `"a\"b\\c"` {
		t.Errorf("TOMLString %s", TOMLString(`a"b\c`))
	}
}

// A setting that led to a shared directory is pointed at a directory of
// ebb's own; a template keeps its placeholders; the built-in default is
// proposed first.
func TestOwnDirectoryKeepsTheSettingsShape(t *testing.T) {
	vmail := &Identity{UID: 120, User: "vmail", GID: 120, Group: "vmail"}
	for _, tc := range []struct {
		setting Setting
		target  string
		want    string
	}{
		{Setting{Key: "mail.root", Value: "/var/mail", Builtin: "/var/vmail"}, "/var/mail",
			`run: install -d -o vmail -g vmail -m 0750 /var/vmail; then set mail.root = "/var/vmail" in /etc/ebb/ebb.toml; then restart`},
		{Setting{Key: "mail.maildir", Value: "/var/mail/{domain}/{local}/Maildir", Builtin: "{root}/{domain}/{local}/Maildir"}, "/var/mail",
			`run: install -d -o vmail -g vmail -m 0750 /var/vmail; then set mail.maildir = "/var/vmail/{domain}/{local}/Maildir" in`},
		{Setting{Key: "server.data_dir", Value: "/var/lib/ebb", Builtin: "/var/lib/ebb"}, "/var/lib",
			`give ebb a directory of its own: run: install -d -o vmail -g vmail -m 0750 /var/lib/ebb`},
		{Setting{Key: "mail.maildir", Value: "{root}/{domain}/{local}/Maildir"}, "/var/mail",
			`point mail.maildir at a directory of ebb's own`},
	} {
		s := tc.setting
		got := OwnDirectory(tc.target, vmail, &s).String()
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s = %s:\n got %s\nwant %s", s.Key, s.Value, got, tc.want)
		}
		if strings.Contains(got, "chown") || strings.Contains(got, "chmod") {
			t.Errorf("%s: changes a shared directory: %s", s.Key, got)
		}
	}
	// data_dir exists already as the value: no set step, no restart.
	s := Setting{Key: "server.data_dir", Value: "/var/lib/ebb", Builtin: "/var/lib/ebb"}
	if got := OwnDirectory("/var/lib", vmail, &s); len(got.Steps) != 1 {
		t.Errorf("steps %+v", got.Steps)
	}
}

// A missing directory is made with every missing parent, each for the
// mail user; a directory the system shares is never made.
func TestMakeDirCreatesEachMissingParentForTheUser(t *testing.T) {
	vmail := &Identity{UID: 120, User: "vmail", GID: 120, Group: "vmail"}
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "c")
	got := MakeDir(p, vmail, &Setting{Key: "queue.spool", Value: p}).String()
	want := "run: install -d -o vmail -g vmail -m 0750 " + filepath.Join(dir, "a") + " " + filepath.Join(dir, "a", "b") + " " + p
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := MakeDir("/var/lib", vmail, &Setting{Key: "server.data_dir", Value: "/var/lib"}).String(); strings.Contains(got, "install -d -o vmail -g vmail -m 0750 /var/lib ") || strings.HasSuffix(got, " /var/lib") {
		t.Errorf("makes /var/lib: %s", got)
	}
}

// Chown never touches a shared path; a secret is given to its one reader
// and closed to others.
func TestChownRefusesWhatIsProtected(t *testing.T) {
	vmail := &Identity{UID: 120, User: "vmail", GID: 120, Group: "vmail"}
	if got := Chown("/var/mail", vmail, &Setting{Key: "mail.root", Value: "/var/mail"}).String(); strings.Contains(got, "chown") {
		t.Errorf("chowns /var/mail: %s", got)
	}
	if got := Chown("/srv/keys/mx.key", vmail, &Setting{Key: "dkim.key_dir"}).String(); got != "run: chown vmail:vmail /srv/keys/mx.key; then run: chmod o-rwx /srv/keys/mx.key" {
		t.Errorf("secret: %s", got)
	}
}

// The fix travels with the error as data, and comes back the same.
func TestFixSurvivesJSON(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	e := PathErrorAs("ebb serve", "create", "create a file in", filepath.Join(dir, "new"), syscall.ENOENT,
		&Setting{Key: "queue.spool", Value: dir, User: "root"}, &Identity{UID: 0, User: "root", GID: 0, Group: "root"})
	back := roundTrip(t, e)
	if back.Fix == nil || back.Fix.String() != e.Hint || e.Hint == "" {
		t.Errorf("fix %+v, hint %q", back.Fix, e.Hint)
	}
}

// A secret of ebb's own that root made (the directory database a setting
// names) goes to the mail user when that user is the one refused; anyone
// else is told to ask, and a secret under /etc is never given away.
func TestASecretOfEbbsOwnGoesToTheMailUserOnly(t *testing.T) {
	vmail := &Identity{UID: 120, User: "vmail", GID: 120, Group: "vmail"}
	newbie := &Identity{UID: 1000, User: "newbie", GID: 1000, Group: "newbie"}
	for _, tc := range []struct {
		name string
		path string
		who  *Identity
		want string
	}{
		{"the database root made, as vmail", "/srv/ebb/data/directory.db", vmail, "run: chown vmail:vmail /srv/ebb/data/directory.db; then run: chmod o-rwx /srv/ebb/data/directory.db"},
		{"the same, as an ordinary login", "/srv/ebb/data/directory.db", newbie, "holds secrets, so its access is not widened: ask an administrator"},
		{"a key under /etc, as vmail", "/etc/ebb/dkim/example.key", vmail, "holds secrets, so its access is not widened"},
	} {
		e := New("open", "open", tc.path, syscall.EACCES)
		e.Component, e.Who = "ebb serve", tc.who
		e.Setting = &Setting{Key: "server.data_dir", Value: filepath.Dir(tc.path), User: "vmail"}
		e.Found = &Found{Path: tc.path, Kind: "file", Owner: "root", Mode: 0o600}
		if got := fixFor(e, tc.path).String(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
