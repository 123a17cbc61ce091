package diag

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// A Fix is a remedy as data (principle 2): the steps an administrator takes,
// in order, each one a command, a setting or a restart that can be followed
// literally, built from facts (the path and what is there, the user who must
// reach it, the setting that chose it) by the constructors below and never
// written by hand beside a check. Its text (String) is the "Fix:" of the
// error's sentence; its steps travel in JSON (Error.Fix) so that mailq,
// doctor --json and explain carry them, and test/doctor/hints_follow_test.go
// follows them.
//
// The text has one grammar, so a reader (or a test) can follow it:
//
//	WHY: STEP; then STEP; then STEP; or instead: FIX
//
// where STEP is one of
//
//	run: COMMAND                      a shell command line (run as root unless "run as USER:")
//	run as USER: COMMAND
//	set KEY = VALUE in FILE           one line of ebb's config file (TOML)
//	reload ebb serve (…)              SIGHUP: the running daemon reads its config again
//	restart ebb serve (…)             stop and start the daemon
//	start ebb serve (…)               start the daemon
//	WORDS                             what no command can do (ask an administrator)
//
// The constructors refuse to hand over what principle 2 protects: a path
// the system shares (IsSystemPath) is never chowned or chmodded, a secret
// (IsSecretPath) is never made readable by more than the user who must read
// it, and a path of another user is never taken over.
type Fix struct {
	// Why is what to know first, in words; never a command.
	Why   string `json:"why,omitempty"`
	Steps []Step `json:"steps,omitempty"`
	// Check is a command that shows the whole picture afterwards (ebb
	// doctor), rendered "then check: …".
	Check string `json:"check,omitempty"`
	// Or is another way, rendered "; or instead: …".
	Or *Fix `json:"or,omitempty"`
}

// Step is one thing to do; exactly one field is set.
type Step struct {
	// Run is a command line for a shell, each argument quoted as sh needs.
	Run string `json:"run,omitempty"`
	// As is who runs Run ("": root, or whoever administers the host).
	As string `json:"as,omitempty"`
	// Set is one key of ebb's config file.
	Set *Assign `json:"set,omitempty"`
	// Daemon is "reload" (SIGHUP), "restart" or "start" of ebb serve.
	Daemon string `json:"daemon,omitempty"`
	// Config is the daemon's config file when it is not the default one.
	Config string `json:"config,omitempty"`
	// Say is what no command can do, in words.
	Say string `json:"say,omitempty"`
}

// Assign is one key of the config file and its new value as TOML text.
type Assign struct {
	Key   string `json:"key"`
	Value string `json:"value"` // TOML: "\"/var/vmail\"", "true", "587"
	File  string `json:"file"`
}

// Command is a Run step; each argument is quoted for sh when it needs it.
func Command(args ...string) Step {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return Step{Run: strings.Join(q, " ")}
}

// Shell is a Run step of a command line written for sh as it is (a
// redirection: ebb dovecot config > FILE); its parts must be quoted by the
// caller.
func Shell(line string) Step { return Step{Run: line} }

// CommandAs is a Run step for user (the mail user's own command).
func CommandAs(user string, args ...string) Step {
	s := Command(args...)
	s.As = user
	return s
}

// Say is a step in words, for what no command can do.
func Say(words string) Step { return Step{Say: words} }

// Set is the step that gives the key of setting a new value (TOML text:
// use TOMLString for a string). The file is the setting's config file.
func Set(setting *Setting, value string) Step {
	a := &Assign{Key: setting.Key, Value: value, File: setting.configFile()}
	return Step{Set: a}
}

// SetString is Set with a string value.
func SetString(setting *Setting, value string) Step { return Set(setting, TOMLString(value)) }

// Reload is the step that makes a running ebb serve read the config again.
func Reload(setting *Setting) Step { return Step{Daemon: "reload", Config: setting.nonDefaultConfig()} }

// Start is the step that starts ebb serve (it creates what it owns: the
// spool, the pickup directory).
func Start(setting *Setting) Step { return Step{Daemon: "start", Config: setting.nonDefaultConfig()} }

// Restart is the step that stops and starts ebb serve (a setting that a
// reload does not apply: listeners, paths, the user).
func Restart(setting *Setting) Step {
	return Step{Daemon: "restart", Config: setting.nonDefaultConfig()}
}

// Steps is a fix of steps only.
func Steps(steps ...Step) *Fix { return &Fix{Steps: steps} }

// Because is a fix with a reason first.
func Because(why string, steps ...Step) *Fix { return &Fix{Why: why, Steps: steps} }

// Then appends steps and returns f.
func (f *Fix) Then(steps ...Step) *Fix {
	f.Steps = append(f.Steps, steps...)
	return f
}

// OrElse sets another way and returns f.
func (f *Fix) OrElse(o *Fix) *Fix {
	f.Or = o
	return f
}

// AndCheck ends the fix with a command that shows the whole picture.
func (f *Fix) AndCheck(cmd string) *Fix {
	f.Check = cmd
	return f
}

// WithoutCheck returns f without its Check (doctor's own output: doctor is what
// is running).
func (f *Fix) WithoutCheck() *Fix {
	g := *f
	g.Check = ""
	return &g
}

// TOMLString quotes s as a TOML basic string.
func TOMLString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// shellQuote quotes a for sh when it holds anything but the characters
// that need none.
func shellQuote(a string) string {
	if a == "" {
		return "''"
	}
	safe := true
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_<>", r)) {
			safe = false
			break
		}
	}
	if safe && !strings.ContainsAny(a, "<>") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// String is the fix in words, in the grammar of the type's comment.
func (f *Fix) String() string {
	if f == nil {
		return ""
	}
	var parts []string
	for _, s := range f.Steps {
		parts = append(parts, s.String())
	}
	body := strings.Join(parts, "; then ")
	switch {
	case f.Why != "" && body != "":
		body = f.Why + ": " + body
	case f.Why != "":
		body = f.Why
	}
	if f.Check != "" {
		if body == "" {
			body = "run: " + f.Check
		} else {
			body += "; then check: " + f.Check
		}
	}
	if f.Or != nil {
		if o := f.Or.String(); o != "" {
			body += "; or instead: " + o
		}
	}
	return body
}

// String is one step in words.
func (s Step) String() string {
	switch {
	case s.Run != "" && s.As != "":
		return "run as " + s.As + ": " + s.Run
	case s.Run != "":
		return "run: " + s.Run
	case s.Set != nil:
		return fmt.Sprintf("set %s = %s in %s", s.Set.Key, s.Set.Value, s.Set.File)
	case s.Daemon != "":
		if s.Config != "" {
			if s.Daemon == "reload" {
				return "reload ebb serve -c " + s.Config + " (kill -HUP its process)"
			}
			return s.Daemon + " ebb serve -c " + s.Config
		}
		return s.Daemon + " ebb serve (systemctl " + s.Daemon + " ebb)"
	}
	return s.Say
}

// SetFix gives e its fix: Fix for the data, Hint for the sentence.
func (e *Error) SetFix(f *Fix) *Error {
	e.Fix = f
	e.Hint = f.String()
	return e
}

// configFile is the file a Set step edits: the setting's config file.
func (s *Setting) configFile() string {
	switch {
	case s == nil:
		return DefaultConfig
	case s.File != "":
		return s.File
	case s.Config != "":
		return s.Config
	case s.Where != "":
		if i := strings.LastIndex(s.Where, ":"); i > 0 {
			return s.Where[:i]
		}
	}
	return DefaultConfig
}

func (s *Setting) nonDefaultConfig() string {
	if s == nil {
		return ""
	}
	if f := s.configFile(); f != DefaultConfig {
		return f
	}
	return ""
}

// DefaultConfig is the config file of a packaged ebb (config.DefaultPath;
// diag cannot import config, which imports diag).
const DefaultConfig = "/etc/ebb/ebb.toml"

// Owner is "user:group" of who, the argument of chown and install -o/-g.
func (id *Identity) owner() (user, group string) {
	user, group = nameOr(id.User, id.UID), nameOr(id.Group, id.GID)
	return user, group
}

// MakeDir is the fix for a directory of ebb's that is missing: create it,
// and each missing directory above it, for who (the user who must write
// it: server.user), mode 0750, so that no parent is left root's for the
// mail user to trip on. A path the system shares is never made or changed:
// the fix then gives the setting a directory of ebb's own (OwnDirectory).
func MakeDir(path string, who *Identity, setting *Setting) *Fix {
	return MakeDirMode(path, "0750", who, setting)
}

// MakeDirMode is MakeDir with another mode (a Maildir's 0700), for one
// path or several (a Maildir's tmp, new and cur): each with its missing
// parents, in one command.
func MakeDirMode(path, mode string, who *Identity, setting *Setting, more ...string) *Fix {
	if IsSystemPath(path) {
		return OwnDirectory(path, who, setting)
	}
	u, g := who.owner()
	args := []string{"install", "-d", "-o", u, "-g", g, "-m", mode}
	seen := map[string]bool{}
	for _, p := range append([]string{path}, more...) {
		for _, d := range missingDirs(p) {
			if !seen[d] {
				seen[d] = true
				args = append(args, d)
			}
		}
	}
	return Steps(Command(args...))
}

// AddUser is the fix for a system user that does not exist (server.user):
// Debian's adduser makes it with its own group, no home and no login.
func AddUser(name string) *Fix {
	return Steps(Command("adduser", "--system", "--group", "--no-create-home", "--home", "/nonexistent", name))
}

// missingDirs lists path and each of its missing parents below the nearest
// existing one (or below a directory the system shares, which is never
// created by ebb), outermost first.
func missingDirs(path string) []string {
	var out []string
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || IsSystemPath(p) || p == filepath.Dir(p) {
			break
		}
		out = append([]string{p}, out...)
	}
	if len(out) == 0 {
		out = []string{filepath.Clean(path)}
	}
	return out
}

// OwnDirectory is the fix for a setting that led to target, a directory
// the system shares (/var/mail, /var/lib): never give that to ebb; make a
// directory of ebb's own for who and point the setting at it, then restart.
// Without a setting it can only say so.
func OwnDirectory(target string, who *Identity, setting *Setting) *Fix {
	why := fmt.Sprintf("%s is shared by the system, never to be given to ebb", target)
	if setting == nil || setting.Key == "" || strings.HasPrefix(setting.Key, "-") {
		return Because(why, Say("use a path of your own"))
	}
	dir, value, ok := ownDirFor(target, setting)
	if !ok {
		return Because(why, Say(fmt.Sprintf("point %s at a directory of ebb's own", setting.Key)))
	}
	u, g := who.owner()
	f := Because(why+"; give ebb a directory of its own", Command("install", "-d", "-o", u, "-g", g, "-m", "0750", dir))
	if value != setting.Value {
		f.Then(SetString(setting, value), Restart(setting))
	}
	return f
}

// ownDirFor proposes ebb's own directory for a setting whose value led to
// the system directory target, and the setting's new value (a template
// keeps its placeholders: "/var/mail/{domain}/{local}" becomes
// "/var/vmail/{domain}/{local}"). The built-in default comes first when it
// is not shared (mail.root's /var/vmail), then the setting's own directory
// when it lies below target (create it), else a directory below target.
// ok is false when the value starts with a placeholder: another setting
// ({root}: mail.root) chose the directory.
func ownDirFor(target string, s *Setting) (dir, value string, ok bool) {
	target = filepath.Clean(target)
	head, tail := s.Value, ""
	if i := strings.Index(s.Value, "{"); i >= 0 {
		j := strings.LastIndex(s.Value[:i], "/")
		if j <= 0 {
			return "", "", false
		}
		head, tail = s.Value[:j], s.Value[j:]
	}
	switch {
	case s.Builtin != "" && !strings.Contains(s.Builtin, "{") && filepath.IsAbs(s.Builtin) && !IsSystemPath(s.Builtin) &&
		filepath.Clean(s.Builtin) != filepath.Clean(head) && !under(s.Builtin, target):
		dir = filepath.Clean(s.Builtin)
	case filepath.IsAbs(head) && !IsSystemPath(head) && under(head, target):
		dir = filepath.Clean(head)
	case target == "/var/mail" || target == "/var/spool/mail":
		dir = "/var/vmail"
	default:
		dir = filepath.Join(target, "ebb")
	}
	return dir, dir + tail, true
}

// under reports whether p is target or below it.
func under(p, target string) bool {
	p, target = filepath.Clean(p), filepath.Clean(target)
	return p == target || strings.HasPrefix(p, target+"/")
}

// Chown is the fix that gives path (a directory or file of ebb's that root
// made, chosen by setting) to who. It refuses what principle 2 protects
// and says what to do instead.
func Chown(path string, who *Identity, setting *Setting) *Fix {
	switch {
	case IsSystemPath(path):
		return OwnDirectory(path, who, setting)
	case IsSecretPath(path, nil):
		// A secret given to the one user who must read it (a key the
		// daemon signs with): owner only, nobody else gains.
		u, g := who.owner()
		return Steps(Command("chown", u+":"+g, path), Command("chmod", "o-rwx", path))
	}
	u, g := who.owner()
	return Steps(Command("chown", u+":"+g, path))
}

// ChownTree is Chown of path and everything below it (a Maildir made by
// another user): refused for a path the system shares, like Chown.
func ChownTree(path string, who *Identity, setting *Setting) *Fix {
	if IsSystemPath(path) {
		return OwnDirectory(path, who, setting)
	}
	u, g := who.owner()
	return Steps(Command("chown", "-R", u+":"+g, path))
}

// Narrow is the fix that takes access away from others (chmod o-rwx):
// it widens nothing, but a path the system shares is still not ebb's to
// change.
func Narrow(path, mode string) *Fix {
	if IsSystemPath(path) {
		return Because(fmt.Sprintf("%s is shared by the system", path), Say("ask its administrator; ebb changes nothing there"))
	}
	return Steps(Command("chmod", mode, path))
}

// LookupUser is the identity of the named user (server.user) with its
// primary group, or nil when there is no such user.
func LookupUser(name string) *Identity {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &Identity{UID: uid, User: u.Username, GID: gid, Group: GroupName(gid)}
}
