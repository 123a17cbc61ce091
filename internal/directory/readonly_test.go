package directory

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// A command that only reads creates nothing: a mistyped server.data_dir is
// an error naming the path and the setting, and no folder or database
// appears there (issue 21: ebb user list made an empty database).
func TestOpenForReadingCreatesNothing(t *testing.T) {
	root := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(root, "ebbb") // the typo
	_, err := OpenForReading(context.Background(), cfg)
	d, ok := diag.As(err)
	if !ok || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want a diag error for a missing database", err)
	}
	s := d.Sentence()
	for _, w := range []string{"cannot open the directory database " + filepath.Join(root, "ebbb", "directory.db"), "server.data_dir", "does not exist"} {
		if !strings.Contains(s, w) {
			t.Errorf("lacks %q: %s", w, s)
		}
	}
	if _, err := os.Stat(cfg.Server.DataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was created", cfg.Server.DataDir)
	}
	if d.ExitCode() != diag.ExTempFail {
		t.Errorf("exit %d", d.ExitCode())
	}
}

// When the setting's default folder holds a database, the fix sets the
// setting back to it.
func TestMissingDatabaseProposesTheDefaultThatHasOne(t *testing.T) {
	root := t.TempDir()
	def := filepath.Join(root, "ebb")
	os.MkdirAll(def, 0o750)
	os.WriteFile(filepath.Join(def, "directory.db"), nil, 0o640)
	typo := filepath.Join(root, "ebbb")
	d := &Directory{setting: &diag.Setting{Key: "server.data_dir", Value: typo, Builtin: def, File: "/etc/ebb/ebb.toml"}}
	e, _ := diag.As(d.missingError(filepath.Join(typo, "directory.db"), fs.ErrNotExist))
	want := `set server.data_dir = "` + def + `" in /etc/ebb/ebb.toml`
	if e == nil || !strings.Contains(e.Hint, want) {
		t.Errorf("fix %v, want %q", e, want)
	}
	// Without one there, no setting is proposed.
	d.setting.Builtin = filepath.Join(root, "none")
	e, _ = diag.As(d.missingError(filepath.Join(typo, "directory.db"), fs.ErrNotExist))
	if e == nil || strings.Contains(e.Hint, "set server.data_dir") || !strings.Contains(e.Hint, "ebb domain add") {
		t.Errorf("fix %v", e)
	}
}

// A database at an older schema is read by no one: the fix is the migrate
// command, and nothing is migrated by the reading command.
func TestOpenForReadingRefusesAnOlderSchemaWithTheCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.DataDir = dir
	d, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB().Exec(`DELETE FROM ebb_schema WHERE version > 1`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = OpenForReading(context.Background(), cfg)
	e, ok := diag.As(err)
	if !ok || !strings.Contains(e.Hint, "run: ebb directory migrate -c /etc/ebb/ebb.toml") {
		t.Fatalf("err %v", err)
	}
	d, err = OpenWith(context.Background(), cfg, Options{ReadOnly: true, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := d.CurrentVersion(context.Background()); v != 1 {
		t.Errorf("the reading command migrated the schema to %d", v)
	}
}

// A login checked on a directory opened for reading (ebb user check) does
// not rehash an older scheme's password: nothing is written. Opened for
// writing (the daemon), the same login rehashes it to argon2id.
func TestAuthenticateReadOnlyLeavesTheHash(t *testing.T) {
	ctx := context.Background()
	d, cfg := openTestDirectory(t)
	const old = "{SHA512-CRYPT}$6$gp9CS0no/7H5biQ8$4/SeZH3L5lZbbEXOaVo7PNvg9oSqwZmry8IirCA5BW.0lOneyAekCBYpzEyA0k0O718VwGTdY1NnXzTUfM53B0" // "secret"
	if err := d.AddMailbox(ctx, Mailbox{Address: "a@example.test", PasswordHash: old, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	hash := func() string {
		t.Helper()
		r, err := OpenForReading(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		mb, err := r.Mailbox(ctx, "a@example.test")
		if err != nil {
			t.Fatal(err)
		}
		return mb.PasswordHash
	}
	var logged bytes.Buffer // SQLite's mode=ro would refuse the write; PostgreSQL would take it
	r, err := OpenWith(ctx, cfg, Options{ReadOnly: true, NoMigrate: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(ctx, "a@example.test", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}
	if mb, err := r.Authenticate(ctx, "a@example.test", "secret"); err != nil || mb.Address != "a@example.test" {
		t.Fatalf("read-only login: %v", err)
	}
	r.Close()
	if h := hash(); h != old || strings.Contains(logged.String(), "rehash") {
		t.Fatalf("a read-only login tried to rewrite the hash: %s\n%s", h, logged.String())
	}
	w, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Authenticate(ctx, "a@example.test", "secret"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if h := hash(); !strings.HasPrefix(h, "{ARGON2ID}") {
		t.Errorf("a login on the writable directory kept %s", h)
	}
}

// HostedDomains (ebb dns check, doctor's DNS checks) lists the hosted
// domains, the aliases only when asked, and reads a directory that is not
// there as an error, creating nothing.
func TestHostedDomains(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	if _, err := HostedDomains(ctx, cfg, true, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no directory: %v", err)
	}
	if _, err := os.Stat(cfg.Server.DataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s was created", cfg.Server.DataDir)
	}
	d, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, dom := range []string{"b.example", "a.example"} {
		if err := d.AddDomain(ctx, dom); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddDomainAlias(ctx, "alias.example", "a.example"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for aliases, want := range map[bool]string{false: "a.example b.example", true: "a.example alias.example b.example"} {
		got, err := HostedDomains(ctx, cfg, aliases, nil)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("aliases %v: %v, %v; want %s", aliases, got, err, want)
		}
	}
}

// ebb user add: the password is stored hashed (argon2id) and logs in; a
// mailbox without one receives mail and cannot log in; the mailbox comes
// back as stored.
func TestAddMailboxWithPassword(t *testing.T) {
	ctx := context.Background()
	d, _ := openTestDirectory(t)
	mb, err := d.AddMailboxWithPassword(ctx, Mailbox{Address: "Alice@EXAMPLE.test", Enabled: true, QuotaBytes: 1 << 20}, "s3cret")
	if err != nil || mb.Address != "Alice@example.test" && mb.Address != "alice@example.test" || !strings.HasPrefix(mb.PasswordHash, "{ARGON2ID}") || mb.QuotaBytes != 1<<20 {
		t.Fatalf("added %+v, %v", mb, err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.test", "s3cret"); err != nil {
		t.Errorf("login: %v", err)
	}
	nopw, err := d.AddMailboxWithPassword(ctx, Mailbox{Address: "noreply@example.test", Enabled: true}, "")
	if err != nil || nopw.PasswordHash != "" {
		t.Fatalf("without a password: %+v, %v", nopw, err)
	}
	if _, err := d.Authenticate(ctx, "noreply@example.test", ""); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("a mailbox without a password logged in: %v", err)
	}
	if _, err := d.AddMailboxWithPassword(ctx, Mailbox{Address: "bob@elsewhere.test", Enabled: true}, "x"); !errors.Is(err, ErrNotHosted) {
		t.Errorf("an unhosted domain: %v", err)
	}
}

// openTestDirectory is a SQLite directory in a temporary data dir that
// hosts example.test, closed when the test ends (closing it again first
// is harmless).
func openTestDirectory(t *testing.T) (*Directory, *config.Config) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Server.DataDir = t.TempDir()
	d, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.AddDomain(context.Background(), "example.test"); err != nil {
		t.Fatal(err)
	}
	return d, cfg
}

// An administration command's directory: read-only creates nothing and
// needs no mail user; to write, run as root, a missing server.user is
// refused before anything is made (what root makes belongs to it).
func TestOpenForCommand(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Server.User, cfg.Server.Group = "ebb-no-such-user", ""
	if _, err := OpenForCommand(ctx, cfg, Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only, no database: %v", err)
	}
	d, err := OpenForCommand(ctx, cfg, Options{})
	_, statErr := os.Stat(cfg.Server.DataDir)
	if os.Geteuid() == 0 {
		if err == nil || !strings.Contains(err.Error(), "ebb-no-such-user") || !errors.Is(statErr, fs.ErrNotExist) {
			t.Fatalf("as root without the mail user: %v (data dir: %v)", err, statErr)
		}
		cfg.Server.User = "root"
		if d, err = OpenForCommand(ctx, cfg, Options{}); err != nil {
			t.Fatal(err)
		}
		cfg.Server.User = "ebb-no-such-user"
	} else if err != nil || statErr != nil {
		t.Fatalf("as an ordinary user: %v (data dir: %v)", err, statErr)
	}
	d.Close()
	r, err := OpenForCommand(ctx, cfg, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only without the mail user: %v", err)
	}
	r.Close()
}
