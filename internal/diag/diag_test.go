package diag

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// storyError is the failure from the brief: a Maildir tmp/ the delivery user
// cannot write.
func storyError() *Error {
	path := "/var/mail/example.com/alice/Maildir/tmp"
	e := New("create", "create a file in", path, &fs.PathError{Op: "open", Path: path + "/x", Err: syscall.EACCES})
	e.Component = "ebb deliver"
	e.Who = &Identity{UID: 5000, User: "vmail", GID: 5000, Group: "vmail"}
	e.Found = &Found{Path: path, Kind: "directory", Owner: "root", Group: "root", Mode: 0o700}
	e.Setting = &Setting{Key: "mail.root", Value: "/var/mail", Default: true}
	e.Class = Temporary
	e.Hint = "chown vmail:vmail " + path + ", or run: ebb doctor"
	return e
}

func TestSentenceReadsLikeTheStory(t *testing.T) {
	want := `ebb deliver: cannot create a file in /var/mail/example.com/alice/Maildir/tmp: permission denied (running as uid 5000 vmail; the directory is root:root 0700; path from mail.root = "/var/mail", the default). Fix: chown vmail:vmail /var/mail/example.com/alice/Maildir/tmp, or run: ebb doctor`
	if got := storyError().Sentence(); got != want {
		t.Errorf("sentence:\n got %s\nwant %s", got, want)
	}
}

func TestErrnoNameAndReasonComeFromTheCause(t *testing.T) {
	e := storyError()
	if e.Errno != "EACCES" || e.Reason != "permission denied" {
		t.Errorf("errno %q reason %q", e.Errno, e.Reason)
	}
	if !errors.Is(e, syscall.EACCES) {
		t.Error("errors.Is does not reach the cause")
	}
}

func TestSMTPReplyNeverLeaksThePath(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mod      func(*Error)
		code     int
		enhanced [3]int
	}{
		{"temporary", func(e *Error) {}, 451, [3]int{4, 3, 0}},
		{"disk full", func(e *Error) { e.SetCause(syscall.ENOSPC) }, 452, [3]int{4, 3, 1}},
		{"permanent", func(e *Error) { e.Class = Permanent }, 554, [3]int{5, 3, 0}},
		{"explicit", func(e *Error) {
			e.Class = Permanent
			e.SMTPCode = 550
			e.Enhanced = [3]int{5, 4, 6}
			e.Public = "Mail loop detected"
		}, 550, [3]int{5, 4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := storyError()
			tc.mod(e)
			code, enh, text := e.SMTPReply()
			if code != tc.code || enh != tc.enhanced {
				t.Errorf("got %d %v, want %d %v", code, enh, tc.code, tc.enhanced)
			}
			if strings.Contains(text, "/") || strings.Contains(text, "vmail") {
				t.Errorf("reply leaks local detail: %q", text)
			}
			if !strings.Contains(text, "ref "+e.Ref) || e.Ref == "" {
				t.Errorf("reply %q lacks the reference id %q", text, e.Ref)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	e := storyError()
	if e.ExitCode() != ExTempFail {
		t.Errorf("temporary: exit %d", e.ExitCode())
	}
	e.Class = Permanent
	if e.ExitCode() != ExUnavailable {
		t.Errorf("permanent: exit %d", e.ExitCode())
	}
	e.Exit = ExNoUser
	if e.ExitCode() != ExNoUser {
		t.Errorf("explicit: exit %d", e.ExitCode())
	}
	if (&Error{}).ExitCode() != ExTempFail {
		t.Error("an unclassified error must be temporary")
	}
}

func TestJSONRoundTripKeepsTheFields(t *testing.T) {
	e := storyError()
	e.EnsureRef()
	back := roundTrip(t, e)
	back.Component = e.Component
	if back.Sentence() != e.Sentence() {
		t.Errorf("after JSON:\n%s\n%s", back.Sentence(), e.Sentence())
	}
	if back.Ref != e.Ref || back.Errno != "EACCES" {
		t.Errorf("ref/errno lost: %+v", back)
	}
}

func TestLogValueCarriesTheFields(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("delivery failed", "err", storyError())
	out := b.String()
	for _, want := range []string{"err.op=create", "err.errno=EACCES", "err.uid=5000", "err.found_mode=0700", "err.setting=mail.root", "err.class=temporary"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
}

func TestDescribeReportsTheNearestExistingParent(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o750)
	f := Describe(filepath.Join(dir, "no", "such", "thing"))
	if f.Path != dir || f.Kind != "directory" || f.Mode != 0o750 {
		t.Errorf("got %+v", f)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o640)
	if f := Describe(file); f.Kind != "file" || f.Mode != 0o640 {
		t.Errorf("file: %+v", f)
	}
}

func TestPathErrorHints(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		errno syscall.Errno
		want  string
	}{
		{syscall.EACCES, "chmod u+rwx"}, // owned by us: the mode is the problem
		{syscall.ENOSPC, "free space"},
		{syscall.EROFS, "read-write"},
		{syscall.ENOENT, "create"},
	} {
		e := PathError("ebb test", "create", "create a file in", filepath.Join(dir, "x"), tc.errno, nil)
		if !strings.Contains(e.Hint, tc.want) {
			t.Errorf("%v: hint %q lacks %q", tc.errno, e.Hint, tc.want)
		}
		if e.Who == nil || e.Found == nil || !e.Temporary() {
			t.Errorf("%v: incomplete %+v", tc.errno, e)
		}
	}
	// Owned by root, shared by the system: never "chown vmail:vmail /".
	e := PathError("ebb test", "create", "create a file in", "/", syscall.EACCES, nil)
	e.Who = &Identity{UID: 5000, User: "vmail", GID: 5000, Group: "vmail"}
	e.Hint = fixFor(e, "/").String()
	if !strings.HasPrefix(e.Hint, "/ is shared by the system, never to be given to ebb") {
		t.Errorf("hint %q", e.Hint)
	}
}

func TestFromWrapsPlainErrorsAsTemporary(t *testing.T) {
	e := From(fmt.Errorf("boom"), "ebb serve", "deliver")
	if !e.Temporary() || e.Component != "ebb serve" || e.Reason != "boom" {
		t.Errorf("%+v", e)
	}
	d := storyError()
	if From(fmt.Errorf("wrapped: %w", d), "x", "y") != d {
		t.Error("From must unwrap an existing diag.Error")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("%d: %q want %q", n, got, want)
		}
	}
}

func TestHumanAge(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 40 * time.Second: "40s", -40 * time.Second: "40s",
		5*time.Minute + 3*time.Second: "5m3s", 2*time.Hour + 5*time.Minute: "2h5m", 5 * 24 * time.Hour: "5d",
		3*24*time.Hour + 4*time.Hour + 59*time.Minute: "3d4h"} {
		if got := HumanAge(d); got != want {
			t.Errorf("%v: %q want %q", d, got, want)
		}
	}
}

func TestSentenceNamesTheParentThatWasFound(t *testing.T) {
	e := storyError()
	e.Path = "/var/mail/example.com/alice/Maildir/tmp/x"
	got := e.Sentence()
	if !strings.Contains(got, "the directory /var/mail/example.com/alice/Maildir/tmp is root:root 0700") {
		t.Errorf("sentence does not name the directory it describes: %s", got)
	}
	e.Path = "/var/mail/example.com/alice/Maildir/tmp/"
	if got := e.Sentence(); !strings.Contains(got, "; the directory is root:root 0700;") {
		t.Errorf("the path itself must not be named twice: %s", got)
	}
}

func TestUnwrapPathSplitsThePathFromTheCause(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	wrapped := fmt.Errorf("load keys: %w", err)
	for _, e := range []error{err, wrapped} {
		if cause := UnwrapPath(e); cause != syscall.ENOENT {
			t.Errorf("UnwrapPath(%v) = %v; want ENOENT", e, cause)
		}
	}
	plain := errors.New("no path here")
	if cause := UnwrapPath(plain); cause != plain {
		t.Errorf("UnwrapPath(plain) = %v; want the error itself", cause)
	}
}

// roundTrip is e stored as JSON and read back, as the queue keeps it.
func roundTrip(t *testing.T, e *Error) Error {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Error
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}
