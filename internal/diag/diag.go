// Package diag holds the one error type that every ebb component returns at
// its boundary (a delivery attempt, an SMTP reply, a command's exit).
//
// A diag.Error answers the questions a sysadmin asks when mail stops: what was
// being done, where (path or address), why (the OS error with its errno name),
// who was doing it (uid/gid with names), what was found there (owner, group,
// mode, free space), which config setting chose the path and whether that was
// the default, whether the failure is temporary or permanent, and how to fix
// it. It renders as one sentence for stderr, as slog attributes, as a sysexits
// code and as an SMTP reply that carries a reference id instead of the local
// path.
package diag

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Class says whether retrying can help.
type Class string

const (
	// Temporary: the same attempt may succeed later (4xx, exit 75, retry).
	// Our own trouble (disk, permissions, database, scanner) is temporary.
	Temporary Class = "temporary"
	// Permanent: retrying cannot help (5xx, a bounce, exit 67/65/77).
	Permanent Class = "permanent"
)

// Sysexits codes (sysexits.h) that ebb uses.
const (
	ExOK          = 0
	ExUsage       = 64
	ExDataErr     = 65
	ExNoInput     = 66
	ExNoUser      = 67
	ExNoHost      = 68
	ExUnavailable = 69
	ExSoftware    = 70
	ExOSErr       = 71
	ExCantCreat   = 73
	ExIOErr       = 74
	ExTempFail    = 75
	ExProtocol    = 76
	ExNoPerm      = 77
	ExConfig      = 78
)

// Identity is the process that met the failure.
type Identity struct {
	UID   int    `json:"uid"`
	User  string `json:"user,omitempty"`
	GID   int    `json:"gid"`
	Group string `json:"group,omitempty"`
}

func (id Identity) String() string {
	s := fmt.Sprintf("uid %d", id.UID)
	if id.User != "" {
		s += " " + id.User
	}
	return s
}

// Found is what was at the path when the operation failed.
type Found struct {
	// Path is what was examined; it may be a parent of Error.Path when the
	// path itself does not exist.
	Path    string `json:"path"`
	Kind    string `json:"kind"` // "directory", "file", "symlink", "missing", ...
	Owner   string `json:"owner,omitempty"`
	Group   string `json:"group,omitempty"`
	UID     int    `json:"owner_uid"`
	GID     int    `json:"owner_gid"`
	Mode    uint32 `json:"mode"` // permission bits plus setuid/setgid/sticky
	HasFree bool   `json:"has_free,omitempty"`
	// Free space and inodes for an unprivileged user on the filesystem.
	FreeBytes  uint64 `json:"free_bytes,omitempty"`
	FreeInodes uint64 `json:"free_inodes,omitempty"`
}

// ModeString renders the permission bits the way chmod takes them: 0700, 1777.
func (f *Found) ModeString() string { return fmt.Sprintf("%04o", f.Mode) }

func (f *Found) String() string { return f.describe("") }

// describe renders what was found; when it is not the path the error is
// about (a missing path's nearest existing parent), it names it, so the
// sentence says which directory has that owner and mode.
func (f *Found) describe(errPath string) string {
	if f.Kind == "missing" {
		return fmt.Sprintf("%s does not exist", f.Path)
	}
	what := "the " + f.Kind
	if errPath != "" && filepath.Clean(errPath) != filepath.Clean(f.Path) {
		what += " " + f.Path
	}
	s := fmt.Sprintf("%s is %s:%s %s", what, nameOr(f.Owner, f.UID), nameOr(f.Group, f.GID), f.ModeString())
	if f.HasFree {
		s += fmt.Sprintf(", %s and %d inodes free", HumanBytes(f.FreeBytes), f.FreeInodes)
	}
	return s
}

func nameOr(name string, id int) string {
	if name != "" {
		return name
	}
	return fmt.Sprint(id)
}

// Setting is the config key that chose a path or address.
type Setting struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Default bool   `json:"default"`
	// Where is "file:line" when the value came from a config file.
	Where string `json:"where,omitempty"`
	// Config is the config file the setting belongs to when it is not the
	// default one, so that a hint can say "ebb doctor -c FILE".
	Config string `json:"config,omitempty"`
	// File is the config file a fix edits to change the setting (the one
	// read, or the default path when none was).
	File string `json:"file,omitempty"`
	// Builtin is the key's built-in default, which a fix proposes when
	// the value in use leads somewhere it must not (mail.root = /var/mail).
	Builtin string `json:"builtin,omitempty"`
	// User is the user who must reach the path the setting chose
	// (server.user): a fix creates or gives the path to that user, and
	// Group (server.group; "": the user's primary group).
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
	// Now is the value the config file gives the key today, when it is
	// not Value any more (an error kept in the queue quotes the value of
	// its attempt; mailq reads the file again): the sentence says both.
	Now *string `json:"now,omitempty"`
}

func (s Setting) String() string {
	r := fmt.Sprintf("%s = %q", s.Key, s.Value)
	switch {
	case s.Default:
		r += ", the default"
	case s.Where != "":
		r += " at " + s.Where
	}
	if s.Now != nil {
		r += fmt.Sprintf(", when it failed; the config says %q now", *s.Now)
	}
	return r
}

// Error is the boundary error. Fill what is known; the renderers skip what is
// empty. The zero Class is treated as Temporary, because an error that nobody
// classified is our own trouble.
type Error struct {
	// Component is the program or part speaking: "ebb deliver", "ebb serve".
	Component string `json:"component,omitempty"`
	// Op is a short machine word: create, write, fsync, rename, link, open,
	// connect, lookup, parse, quota, loop.
	Op string `json:"op"`
	// Doing is the human phrase after "cannot": "create a file in".
	Doing string `json:"doing,omitempty"`
	// Path is the file, directory, address or host:port concerned.
	Path string `json:"path,omitempty"`
	// Err is the cause. Errno and Reason are derived from it so that the error
	// survives being stored as JSON.
	Err    error  `json:"-"`
	Errno  string `json:"errno,omitempty"`
	Reason string `json:"reason,omitempty"`

	Who     *Identity `json:"who,omitempty"`
	Found   *Found    `json:"found,omitempty"`
	Setting *Setting  `json:"setting,omitempty"`
	Class   Class     `json:"class"`
	// Hint is the fix in words; Fix the same as data when a constructor
	// of fix.go made it (SetFix sets both).
	Hint string `json:"hint,omitempty"`
	Fix  *Fix   `json:"fix,omitempty"`

	// Exit overrides the sysexits code (0: 75 when temporary, 69 otherwise).
	Exit int `json:"exit,omitempty"`
	// SMTPCode and Enhanced override the SMTP reply (0: chosen by class and
	// errno). Public is text that may be shown to a remote client; it must
	// never hold a local path.
	SMTPCode int    `json:"smtp_code,omitempty"`
	Enhanced [3]int `json:"enhanced,omitempty"`
	Public   string `json:"public,omitempty"`

	// Ref is the reference id shown to remote clients and in logs.
	Ref string `json:"ref,omitempty"`

	// Remote is what a remote server answered, when the failure is one of
	// outbound delivery (relay): kept beside our own diagnosis so that
	// mailq and the DSN quote the remote's words (RFC 3464 Remote-MTA,
	// Diagnostic-Code).
	Remote *Remote `json:"remote,omitempty"`
}

// Remote is one remote server's answer at one step of an SMTP session.
type Remote struct {
	Host string `json:"host,omitempty"` // the MX or smarthost name
	IP   string `json:"ip,omitempty"`
	// Step is where it failed: dns, connect, greeting, ehlo, starttls,
	// auth, mail, rcpt, data, end-of-data.
	Step     string `json:"step,omitempty"`
	Code     int    `json:"code,omitempty"`     // the reply code, 0 when none came
	Enhanced string `json:"enhanced,omitempty"` // "5.1.1", as the remote sent it
	Text     string `json:"text,omitempty"`     // the reply text, all lines joined by "\n"
	// Policy is the TLS policy the session with the host was under: DANE,
	// MTA-STS, REQUIRETLS, the admin's level or opportunistic TLS (mailq
	// --json and DSNs say it).
	Policy string `json:"tls_policy,omitempty"`
}

// New builds an Error from a cause, filling Errno and Reason from it.
func New(op, doing, path string, err error) *Error {
	e := &Error{Op: op, Doing: doing, Path: path}
	e.SetCause(err)
	return e
}

// SetCause records err as the cause and derives Errno and Reason.
func (e *Error) SetCause(err error) {
	e.Err = err
	if err == nil {
		return
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		e.Errno = unix.ErrnoName(errno)
		e.Reason = errno.Error()
		return
	}
	e.Reason = err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the error is temporary (the zero class counts).
func (e *Error) Temporary() bool { return e.Class != Permanent }

// Error is the sentence without the component prefix.
func (e *Error) Error() string { return e.sentence(false) }

// Sentence is the one line for stderr and logs, with the component prefix.
func (e *Error) Sentence() string { return e.sentence(true) }

func (e *Error) sentence(withComponent bool) string {
	var b strings.Builder
	if withComponent && e.Component != "" {
		b.WriteString(e.Component)
		b.WriteString(": ")
	}
	b.WriteString(e.Head(e.Path, e.Reason))
	var ctx []string
	if e.Who != nil {
		ctx = append(ctx, "running as "+e.Who.String())
	}
	if e.Found != nil {
		ctx = append(ctx, e.Found.describe(e.Path))
	}
	if e.Setting != nil {
		// A setting chose the path, or (an address, a host, a rule) the
		// value the failure is about.
		if strings.HasPrefix(e.Path, "/") {
			ctx = append(ctx, "path from "+e.Setting.String())
		} else {
			ctx = append(ctx, "set by "+e.Setting.String())
		}
	}
	if len(ctx) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(ctx, "; "))
		b.WriteString(")")
	}
	if e.Hint != "" {
		b.WriteString(". Fix: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Head is the start of the sentence, "cannot <doing> <path>: <reason>",
// with path and reason as given: the error's own, or a form of them that
// other errors share (queue.GeneralReason).
func (e *Error) Head(path, reason string) string {
	var b strings.Builder
	doing := e.Doing
	if doing == "" {
		doing = e.Op
	}
	if doing != "" {
		b.WriteString("cannot ")
		b.WriteString(doing)
		if path != "" {
			b.WriteString(" ")
			b.WriteString(path)
		}
	} else if path != "" {
		b.WriteString(path)
	}
	if reason != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(reason)
	}
	return b.String()
}

// ExitCode is the sysexits code for a command that ends with this error.
func (e *Error) ExitCode() int {
	if e.Exit != 0 {
		return e.Exit
	}
	if e.Temporary() {
		return ExTempFail
	}
	return ExUnavailable
}

// EnsureRef gives the error a reference id if it has none, and returns it.
func (e *Error) EnsureRef() string {
	if e.Ref == "" {
		e.Ref = NewRef()
	}
	return e.Ref
}

// NewRef returns a short random id that a log line and an SMTP reply share.
func NewRef() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.EncodeToString(b[:])
}

// IsRef reports whether s has the shape of a reference id (NewRef): eight
// characters of the base32 alphabet.
func IsRef(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SMTPReply returns the code, enhanced code and text for a remote client.
// The text never holds a local path: only Public and the reference id.
func (e *Error) SMTPReply() (code int, enhanced [3]int, text string) {
	ref := e.EnsureRef()
	code, enhanced = e.SMTPCode, e.Enhanced
	if code == 0 {
		switch {
		case e.Temporary() && (e.Errno == "ENOSPC" || e.Errno == "EDQUOT"):
			code, enhanced = 452, [3]int{4, 3, 1}
		case e.Temporary():
			code, enhanced = 451, [3]int{4, 3, 0}
		default:
			code, enhanced = 554, [3]int{5, 3, 0}
		}
	}
	if enhanced == [3]int{} {
		enhanced = [3]int{code / 100, 0, 0}
	}
	text = e.Public
	if text == "" {
		if e.Temporary() {
			text = "Local error, try again later"
		} else {
			text = "Local error, message not accepted"
		}
	}
	return code, enhanced, fmt.Sprintf("%s (ref %s)", text, ref)
}

// LogValue renders the error as slog attributes.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("op", e.Op)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("path", e.Path)
	add("errno", e.Errno)
	add("reason", e.Reason)
	if e.Who != nil {
		attrs = append(attrs, slog.Int("uid", e.Who.UID), slog.Int("gid", e.Who.GID))
		add("user", e.Who.User)
	}
	if e.Found != nil {
		add("found_path", e.Found.Path)
		add("found_kind", e.Found.Kind)
		add("found_owner", nameOr(e.Found.Owner, e.Found.UID)+":"+nameOr(e.Found.Group, e.Found.GID))
		add("found_mode", e.Found.ModeString())
	}
	if e.Setting != nil {
		add("setting", e.Setting.Key)
		add("setting_value", e.Setting.Value)
		attrs = append(attrs, slog.Bool("setting_default", e.Setting.Default))
	}
	attrs = append(attrs, slog.String("class", string(e.class())))
	add("hint", e.Hint)
	add("ref", e.Ref)
	return slog.GroupValue(attrs...)
}

func (e *Error) class() Class {
	if e.Class == "" {
		return Temporary
	}
	return e.Class
}

// As returns err as a *Error if it is or wraps one.
func As(err error) (*Error, bool) {
	var d *Error
	if errors.As(err, &d) {
		return d, true
	}
	return nil, false
}

// From returns err as a *Error, wrapping a plain error as a temporary one with
// the given component and op: an error nobody classified is our own trouble.
func From(err error, component, op string) *Error {
	if d, ok := As(err); ok {
		if d.Component == "" {
			d.Component = component
		}
		return d
	}
	e := New(op, "", "", err)
	e.Component = component
	e.Class = Temporary
	return e
}

// Plural is noun for a count of n, in English: one message, two
// messages, one mailbox, two mailboxes, one secret, two secrets.
func Plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	switch {
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return noun + "es"
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}

// Count is n and its noun: "1 message", "3 messages".
func Count(n int, noun string) string { return fmt.Sprintf("%d %s", n, Plural(n, noun)) }

// HumanAge renders a duration for people, as mailq shows ages and a
// delay notice says how long the queue retries: 40s, 5m3s, 2h5m, 3d, 3d4h.
func HumanAge(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		h := (d % (24 * time.Hour)) / time.Hour
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// HumanBytes renders a byte count for people: 512 B, 3.1 MiB.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
