package diag

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// changeCmd finds what a hint tells someone to chown/chmod/chgrp/setfacl:
// every absolute path after the command word up to the end of that clause.
var changeCmd = regexp.MustCompile(`\b(chown|chmod|chgrp|setfacl)\b([^,;&()]*)`)

func changedPaths(hint string) []string {
	var out []string
	for _, m := range changeCmd.FindAllStringSubmatch(hint, -1) {
		for _, tok := range strings.Fields(m[2]) {
			if strings.HasPrefix(tok, "/") {
				out = append(out, strings.TrimRight(tok, ".*"))
			}
		}
	}
	return out
}

// Every (path class × error × caller × setting) combination: no hint names a
// path that the system shares, that holds secrets, or that belongs to
// another user as something to chown or chmod. This is the net under the
// combinations; what a fix does when followed is tested by following it,
// on real directories, in test/doctor/hints_follow_test.go; doctor's own hints never
// say "run: ebb doctor"; a non-default config file is named in that advice.
func TestNoHintWidensAccessToAProtectedPath(t *testing.T) {
	type owner struct {
		uid  int
		name string
	}
	root, vmail, newbie, bob := owner{0, "root"}, owner{120, "vmail"}, owner{1000, "newbie"}, owner{1001, "bob"}
	paths := []struct {
		class string
		path  string // what failed
		found string // what was found there (the nearest existing parent)
		owner owner
		ours  bool // a directory of ebb's own: a chown/chmod of it is fine
	}{
		{"system", "/", "/", root, false},
		{"system", "/tmp", "/tmp", root, false},
		{"system", "/var", "/var", root, false},
		{"system", "/var/mail/example.com/alice/Maildir", "/var/mail", root, false},
		{"system", "/var/lib/ebb", "/var/lib", root, false},
		{"system", "/var/spool/ebb/queue", "/var/spool", root, false},
		{"system", "/etc/ebb/ebb.toml", "/etc/ebb/ebb.toml", root, false},
		{"system", "/etc/shadow", "/etc/shadow", root, false},
		{"system", "/usr/local/bin/ebb", "/usr/local/bin/ebb", root, false},
		{"system", "/home", "/home", root, false},
		{"secret", "/srv/ebb/ebb.toml", "/srv/ebb/ebb.toml", vmail, false},
		{"secret", "/var/lib/ebb/directory.db", "/var/lib/ebb/directory.db", vmail, false},
		{"secret", "/srv/keys/mx.example.key", "/srv/keys/mx.example.key", root, false},
		{"secret", "/home/bob/.ebb.toml", "/home/bob/.ebb.toml", bob, false},
		{"another user's", "/home/bob/Maildir/tmp", "/home/bob/Maildir/tmp", bob, false},
		{"another user's", "/var/spool/ebb/queue", "/var/spool/ebb/queue", vmail, false},
		{"ebb's own, made by root", "/var/mail/vhosts/example.com/alice/Maildir/tmp", "/var/mail/vhosts/example.com/alice/Maildir/tmp", root, true},
		{"ebb's own", "/srv/mail/example.com", "/srv/mail", vmail, true},
	}
	errnos := []syscall.Errno{syscall.EACCES, syscall.EPERM, syscall.ENOENT, syscall.ENOSPC, syscall.EROFS, syscall.ENOTDIR}
	callers := []owner{root, vmail, newbie, bob}
	settings := []*Setting{nil,
		{Key: "mail.root", Value: "/var/mail", Default: true},
		{Key: "mail.root", Value: "/var/mail/vhosts", Config: "ebb-demo/ebb.toml"},
		{Key: "-C", Value: "/etc/shadow"},
		{Key: "directory.dsn", Value: "/var/lib/ebb/directory.db"}}
	components := []string{"ebb serve", "ebb doctor", "ebb sendmail"}
	n := 0
	for _, p := range paths {
		for _, errno := range errnos {
			for _, c := range callers {
				for _, s := range settings {
					for _, comp := range components {
						n++
						e := New("create", "create a file in", p.path, errno)
						e.Component = comp
						e.Who = &Identity{UID: c.uid, User: c.name, GID: c.uid, Group: c.name}
						e.Setting = s
						e.Found = &Found{Path: p.found, Kind: "directory", UID: p.owner.uid, Owner: p.owner.name, GID: p.owner.uid, Group: p.owner.name, Mode: 0o700}
						if filepath.Ext(p.found) != "" || strings.HasSuffix(p.found, "shadow") {
							e.Found.Kind = "file"
						}
						hint := fixFor(e, p.path).String()
						what := p.class + " " + p.path + " " + errno.Error() + " as " + c.name + " via " + comp
						if s != nil {
							what += " (" + s.Key + ")"
						}
						for _, changed := range changedPaths(hint) {
							// The caller's own path, or a directory of ebb's own;
							// never a shared or secret one.
							mine := p.owner.uid == c.uid || p.ours
							if IsSystemPath(changed) || IsSecretPath(changed, nil) || !mine {
								t.Errorf("%s: hint changes %s: %q", what, changed, hint)
							}
						}
						if (errno == syscall.EACCES || errno == syscall.EPERM) && hint == "" {
							t.Errorf("%s: no hint", what)
						}
						if comp == "ebb doctor" && strings.Contains(hint, "ebb doctor") {
							t.Errorf("%s: doctor's own hint sends the reader to doctor: %q", what, hint)
						}
						if comp != "ebb doctor" && s != nil && s.Config != "" && strings.Contains(hint, "ebb doctor") &&
							!strings.Contains(hint, "ebb doctor -c ebb-demo/ebb.toml") {
							t.Errorf("%s: hint does not name the demo's config: %q", what, hint)
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

// The hints people meet most, word for word.
func TestSafeHintsSayWhatToDoInstead(t *testing.T) {
	vmail := &Identity{UID: 120, User: "vmail", GID: 120, Group: "vmail"}
	newbie := &Identity{UID: 1000, User: "newbie", GID: 1000, Group: "newbie"}
	for _, tc := range []struct {
		name    string
		path    string
		found   Found
		who     *Identity
		setting *Setting
		want    string
	}{
		{"mail.root left at /var/mail", "/var/mail/example.com", Found{Path: "/var/mail", Kind: "directory", Owner: "root", Group: "mail", GID: 8, Mode: 0o2775}, vmail,
			&Setting{Key: "mail.root", Value: "/var/mail", Default: true},
			`run: install -d -o vmail -g vmail -m 0750 /var/vmail; then set mail.root = "/var/vmail" in /etc/ebb/ebb.toml; then restart ebb serve`},
		{"a data_dir below /var/lib not made yet", "/var/lib/ebb", Found{Path: "/var/lib", Kind: "directory", Owner: "root", Mode: 0o755}, newbie,
			&Setting{Key: "server.data_dir", Value: "/var/lib/ebb", Default: true},
			"install -d -o newbie -g newbie -m 0750 /var/lib/ebb"},
		{"sendmail -C /etc/shadow", "/etc/shadow", Found{Path: "/etc/shadow", Kind: "file", Owner: "root", Group: "shadow", GID: 42, Mode: 0o640}, newbie,
			&Setting{Key: "-C", Value: "/etc/shadow"}, "/etc/shadow holds secrets, so its access is not widened: ask an administrator, or run the command as the mail user"},
		{"the daemon's config", "/srv/ebb/ebb.toml", Found{Path: "/srv/ebb/ebb.toml", Kind: "file", Owner: "vmail", UID: 120, GID: 120, Mode: 0o600}, newbie,
			nil, "holds secrets, so its access is not widened: ask an administrator, or run the command as vmail, its owner"},
		{"the README's story: vmail with uid 5000", "/var/mail/example.com/alice/Maildir/tmp", Found{Path: "/var/mail/example.com/alice/Maildir/tmp", Kind: "directory", Owner: "root", Mode: 0o700},
			&Identity{UID: 5000, User: "vmail", GID: 5000, Group: "vmail"}, &Setting{Key: "mail.root", Value: "/var/mail", Default: true},
			"run: chown vmail:vmail /var/mail/example.com/alice/Maildir/tmp; then check: ebb doctor"},
		{"a Maildir that root made", "/srv/mail/example.com/alice/Maildir/tmp", Found{Path: "/srv/mail/example.com/alice/Maildir/tmp", Kind: "directory", Owner: "root", Mode: 0o700}, vmail,
			&Setting{Key: "mail.root", Value: "/srv/mail"}, "run: chown vmail:vmail /srv/mail/example.com/alice/Maildir/tmp; then check: ebb doctor"},
	} {
		e := New("create", "create a file in", tc.path, syscall.EACCES)
		e.Component, e.Who, e.Setting = "ebb serve", tc.who, tc.setting
		f := tc.found
		e.Found = &f
		if got := fixFor(e, tc.path).String(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint %q\nwant %q", tc.name, got, tc.want)
		}
	}
	// An admin command run by an ordinary login: not "chown newbie".
	e := New("mkdir", "create", "/srv/ebb/state/x", syscall.EACCES)
	e.Component, e.Who = "ebb domain add", newbie
	e.Setting = &Setting{Key: "server.data_dir", Value: "/srv/ebb/state"}
	e.Found = &Found{Path: "/srv/ebb/state", Kind: "directory", Owner: "root", Mode: 0o755}
	if got := fixFor(e, "/srv/ebb/state/x").String(); !strings.HasSuffix(got, "ask an administrator, or run as the mail user (server.user)") {
		t.Errorf("admin command as newbie: hint %q", got)
	}
}
