package fetch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/servetest"
)

// exitCode is the code a command ends with for err (cli.Call.Fail).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) {
		t.Fatalf("%v (%T) carries no exit code", err, err)
	}
	return ec.ExitCode()
}

func TestCheckCAFile(t *testing.T) {
	if err := CheckCAFile(""); err != nil {
		t.Errorf("no CA file: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckCAFile(ca); err != nil {
		t.Errorf("%s: %v", ca, err)
	}
	missing := ca + ".missing"
	err := CheckCAFile(missing)
	d, ok := diag.As(err)
	if !ok || d.Path != missing || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(d.Sentence(), "read the CA file") {
		t.Errorf("missing CA file: %#v", err)
	}
}

func TestAddSetResetSayWhatTheyDid(t *testing.T) {
	ctx := context.Background()
	s := fetchstate.New(testDirectory(t))
	var out strings.Builder
	a, err := NewAccount(AccountOptions{Name: "w", Server: "imap.remote.example", Protocol: "imap", TLS: "implicit", User: "alice", To: "alice@example.test", Folders: "INBOX", After: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Add(ctx, s, a, &out); err != nil {
		t.Fatal(err)
	}
	if want := "fetch account w added: imap imap.remote.example:993 (implicit) as alice → alice@example.test\nnext: ebb fetch test w "; !strings.HasPrefix(out.String(), want) {
		t.Errorf("add said %q, want %q…", out.String(), want)
	}
	if err := Add(ctx, s, a, &out); err == nil {
		t.Error("the same account added twice")
	}
	o, err := NewAccount(AccountOptions{Name: "g", Protocol: "imap", TLS: "implicit", User: "alice@gmail.example", To: "alice@example.test", Folders: "INBOX", After: "keep", OAuth2: "google", ClientID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Add(ctx, s, o, &out); err != nil || !strings.Contains(out.String(), "next: ebb fetch auth g (grants ebb access once") {
		t.Errorf("OAuth2 account: %v, said %q", err, out.String())
	}

	out.Reset()
	folders, after, moveTo := "INBOX,Lists", "move", "Archive"
	if err := Set(ctx, s, "w", Changes{Folders: &folders, After: &after, MoveTo: &moveTo}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "fetch account w: imap imap.remote.example:993 (implicit), folders INBOX,Lists, after move; "; !strings.HasPrefix(out.String(), want) {
		t.Errorf("set said %q, want %q…", out.String(), want)
	}
	got, err := s.FetchAccount(ctx, "w")
	if err != nil || strings.Join(got.Folders, ",") != folders || got.MoveTo != moveTo {
		t.Errorf("stored after set: %+v, %v", got, err)
	}
	bad := "sideways"
	if err := Set(ctx, s, "w", Changes{After: &bad}, &out); err == nil || exitCode(t, err) != diag.ExUsage {
		t.Errorf("a bad change: %v", err)
	}
	if err := Set(ctx, s, "nosuch", Changes{Folders: &folders}, &out); err == nil || exitCode(t, err) == 0 {
		t.Errorf("set of an unknown account: %v", err)
	}

	if err := Reset(ctx, s, "w"); err != nil {
		t.Errorf("reset: %v", err)
	}
	if err := Reset(ctx, s, "nosuch"); err == nil || exitCode(t, err) == 0 {
		t.Errorf("reset of an unknown account: %v", err)
	}
}

func TestRetryNeedsASkippedMessage(t *testing.T) {
	ctx := context.Background()
	dir := testDirectory(t)
	s := fetchstate.New(dir)
	testAccount(t, dir, "w", "127.0.0.1", 1, "keep")
	var out strings.Builder
	err := Retry(ctx, s, "w", []string{"7"}, &out)
	if err == nil || exitCode(t, err) != diag.ExNoInput || err.Error() != "account w has no skipped message 7 (ebb fetch list shows them)" {
		t.Errorf("nothing skipped: %v", err)
	}
	if err := s.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 1, UID: "7", Size: 10, State: fetchstate.FetchSkipped, Reason: "too big"}); err != nil {
		t.Fatal(err)
	}
	if err := Retry(ctx, s, "w", nil, &out); err != nil || out.String() != "fetch account w: 1 skipped messages are fetched again at the next pass\n" {
		t.Errorf("retry: %v, said %q", err, out.String())
	}
	if ms, _ := s.FetchedByState(ctx, "w", fetchstate.FetchSkipped); len(ms) != 0 {
		t.Errorf("still skipped after retry: %+v", ms)
	}
	if err := Retry(ctx, s, "nosuch", nil, &out); err == nil || exitCode(t, err) == 0 {
		t.Errorf("retry of an unknown account: %v", err)
	}
}

// A password account has nothing to authorize: the command fails and
// stores nothing; an unknown account is the directory's error.
func TestAuthorizeStoredRefusesAPasswordAccount(t *testing.T) {
	ctx := context.Background()
	dir := testDirectory(t)
	s := fetchstate.New(dir)
	testAccount(t, dir, "w", "127.0.0.1", 1, "keep")
	var out strings.Builder
	err := AuthorizeStored(ctx, s, "w", false, time.Minute, &out)
	// A usage mistake (64), not our trouble (75): asking again will not help.
	if err == nil || exitCode(t, err) != diag.ExUsage || err.Error() != "account w logs in with a password; add it with --oauth2 to use OAuth2" {
		t.Errorf("password account: %v", err)
	}
	if a, _ := s.FetchAccount(ctx, "w"); a.OAuth != nil || out.Len() != 0 {
		t.Errorf("stored %+v, said %q", a.OAuth, out.String())
	}
	if err := AuthorizeStored(ctx, s, "nosuch", false, time.Minute, &out); err == nil || exitCode(t, err) == 0 {
		t.Errorf("unknown account: %v", err)
	}
}

// The provider out of reach is temporary (75) and names the account; an
// error that has its own code and fix (a *diag.Error) keeps them.
func TestAuthorizeStoredKeepsTheCodeOfItsError(t *testing.T) {
	ctx := context.Background()
	dir := testDirectory(t)
	s := fetchstate.New(dir)
	gone := fmt.Sprintf("http://127.0.0.1:%d/", servetest.FreePort(t)) // claimed, nothing listens
	a := fetchstate.FetchAccount{Name: "o", Protocol: "imap", Host: "127.0.0.1", Port: 1, TLS: "none", Username: "alice",
		Auth: "oauth2", Mailbox: "alice@example.test", After: "keep", Enabled: true, Folders: []string{"INBOX"},
		OAuth: &fetchstate.OAuth2{Provider: "custom", ClientID: "id", TokenURL: gone + "token", DeviceURL: gone + "device"}}
	if err := s.AddFetchAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := AuthorizeStored(ctx, s, "o", false, time.Minute, &out)
	if err == nil || exitCode(t, err) != diag.ExTempFail || !strings.HasPrefix(err.Error(), "o: device authorization at "+gone+"device") {
		t.Errorf("provider out of reach: %v", err)
	}
	if got, _ := s.FetchAccount(ctx, "o"); got.OAuth == nil || got.OAuth.RefreshToken != "" {
		t.Errorf("stored %+v", got.OAuth)
	}
	d := &diag.Error{Op: "open", Path: "/nowhere", Err: fs.ErrPermission, Exit: diag.ExNoPerm, Hint: "run it as root"}
	if err := authorizeError("o", fmt.Errorf("wrapped: %w", d)); exitCode(t, err) != diag.ExNoPerm || !errors.Is(err, d) {
		t.Errorf("a diag error became %v (%T)", err, err)
	}
	if de, ok := diag.As(authorizeError("o", d)); !ok || de != d || de.Hint != "run it as root" {
		t.Errorf("a diag error lost its hint: %v", de)
	}
}

func TestTryAccountLogsInAndListsTheFolders(t *testing.T) {
	ctx := context.Background()
	dir := testDirectory(t)
	srv := newFakeIMAP(t)
	host, port := srv.addr()
	testAccount(t, dir, "w", host, port, "keep")
	cfg := config.Defaults()
	var out strings.Builder
	if err := TryAccount(ctx, cfg, fetchstate.New(dir), "w", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "w: logged in to ") || !strings.Contains(out.String(), "  folder INBOX (fetched)\n") {
		t.Errorf("ebb fetch test said %q", out.String())
	}
	for _, c := range srv.commands() {
		if strings.Contains(c, "FETCH") || strings.Contains(c, "STORE") {
			t.Errorf("the test changed or fetched something: %q", c)
		}
	}
	if err := TryAccount(ctx, cfg, fetchstate.New(dir), "nosuch", &out); err == nil {
		t.Error("an unknown account logged in")
	}
}

// NewBar redraws a line only on a terminal: a pty is one, a pipe is not.
func TestNewBarKnowsATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if NewBar(w).tty {
		t.Error("a pipe taken for a terminal")
	}
	var b strings.Builder
	if NewBar(&b).tty {
		t.Error("a buffer taken for a terminal")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	if !NewBar(pts).tty {
		t.Error("a pty not taken for a terminal")
	}
}
