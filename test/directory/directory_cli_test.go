package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/test/harness"
)

// The admin commands, against both backends.
func TestDirectoryCLIAdministration(t *testing.T) {
	t.Parallel()
	for _, b := range dirBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			b.must(t, nil, "domain", "add", "Example.TEST")
			b.must(t, nil, "domain", "add", "bücher.example")
			b.must(t, nil, "domain", "add", "example.org", "--alias-of", "example.test")
			var domains []directory.Domain
			if err := json.Unmarshal([]byte(b.must(t, nil, "domain", "list", "--json")), &domains); err != nil || len(domains) != 3 {
				t.Fatalf("domain list --json = %v, %v", domains, err)
			}
			if domains[2].Name != "xn--bcher-kva.example" || domains[2].Unicode != "bücher.example" || domains[0].AliasOf != "example.test" {
				t.Fatalf("domains = %+v", domains)
			}

			// A password never comes from argv: an extra argument is a usage error.
			if r := b.ebb(t, nil, "user", "add", "alice@example.test", "s3cret"); r.Code != diag.ExUsage {
				t.Fatalf("password in argv: exit %d; want 64", r.Code)
			}
			if r := b.ebb(t, []byte{}, "user", "add", "alice@example.test"); r.Code != diag.ExUsage || !strings.Contains(r.Stderr, "stdin") {
				t.Fatalf("no password on stdin: exit %d %q; want 64", r.Code, r.Stderr)
			}
			b.must(t, []byte("s3cret\n"), "user", "add", "alice@example.test", "--quota", "1G")
			b.must(t, nil, "user", "add", "bob@example.test", "--no-password")
			if r := b.ebb(t, []byte("x\n"), "user", "add", "ALICE@example.test"); r.Code != diag.ExCantCreat {
				t.Fatalf("duplicate user: exit %d; want 73", r.Code)
			}
			if r := b.ebb(t, []byte("x\n"), "user", "add", "carol@nothosted.test"); r.Code != diag.ExNoHost {
				t.Fatalf("user in unhosted domain: exit %d; want 68", r.Code)
			}
			var users []struct {
				Address    string `json:"address"`
				QuotaBytes int64  `json:"quota_bytes"`
				Scheme     string `json:"password_scheme"`
				Maildir    string `json:"maildir"`
			}
			if err := json.Unmarshal([]byte(b.must(t, nil, "user", "list", "--json")), &users); err != nil || len(users) != 2 {
				t.Fatalf("user list --json = %v, %v", users, err)
			}
			if users[0].Address != "alice@example.test" || users[0].QuotaBytes != 1<<30 || users[0].Scheme != "ARGON2ID" ||
				users[0].Maildir != filepath.Join(b.mailRoot, "example.test/alice/Maildir") {
				t.Fatalf("alice = %+v", users[0])
			}
			b.must(t, []byte("s3cret\n"), "user", "check", "alice@EXAMPLE.org")
			if r := b.ebb(t, []byte("wrong\n"), "user", "check", "alice@example.test"); r.Code != diag.ExNoPerm {
				t.Fatalf("wrong password: exit %d; want 77", r.Code)
			}
			b.must(t, []byte("n3w\n"), "user", "passwd", "alice@example.test")
			b.must(t, []byte("n3w\n"), "user", "check", "alice@example.test")
			b.must(t, nil, "user", "quota", "alice@example.test", "2G", "1000")

			b.must(t, nil, "alias", "add", "team@example.test", "alice@example.test", "bob@example.test", "partner@remote.example")
			b.must(t, nil, "alias", "add", "@example.test", "bob@example.test")
			var aliases []directory.Alias
			if err := json.Unmarshal([]byte(b.must(t, nil, "alias", "list", "--json")), &aliases); err != nil || len(aliases) != 2 || len(aliases[1].Destinations) != 3 {
				t.Fatalf("alias list --json = %+v, %v", aliases, err)
			}
			out := b.must(t, nil, "directory", "resolve", "team+x@example.org")
			for _, want := range []string{"mailbox alice@example.test", "mailbox bob@example.test", "forward partner@remote.example"} {
				if !strings.Contains(out, want) {
					t.Fatalf("resolve team+x@example.org = %q; want %q", out, want)
				}
			}

			// A user removed with --delete-mail takes its Maildir along.
			b.must(t, nil, "user", "add", "gone@example.test", "--no-password")
			goneDir := filepath.Join(b.mailRoot, "example.test/gone/Maildir")
			os.MkdirAll(filepath.Join(goneDir, "cur"), 0o700)
			if out := b.must(t, nil, "user", "remove", "gone@example.test", "--delete-mail"); !strings.Contains(out, "deleted: "+goneDir) {
				t.Fatalf("user remove --delete-mail said %q", out)
			}
			if _, err := os.Stat(goneDir); !os.IsNotExist(err) {
				t.Fatalf("Maildir of a user removed with --delete-mail still there: %v", err)
			}

			// Removing a domain with mailboxes is refused; --force keeps the mail.
			maildir := filepath.Join(b.mailRoot, "example.test/alice/Maildir")
			os.MkdirAll(filepath.Join(maildir, "new"), 0o700)
			os.WriteFile(filepath.Join(maildir, "new", "1.msg"), []byte("Subject: keep me\n\nhi\n"), 0o600)
			if r := b.ebb(t, nil, "domain", "remove", "example.test"); r.Code != diag.ExCantCreat || !strings.Contains(r.Stderr, "--force") {
				t.Fatalf("remove domain with mailboxes: exit %d %q; want 73 mentioning --force", r.Code, r.Stderr)
			}
			out = b.must(t, nil, "domain", "remove", "example.test", "--force")
			if !strings.Contains(out, "kept in "+maildir) {
				t.Fatalf("domain remove --force said %q; want the Maildir kept", out)
			}
			if _, err := os.Stat(filepath.Join(maildir, "new", "1.msg")); err != nil {
				t.Fatalf("mail on disk was deleted without --delete-mail: %v", err)
			}
			if r := b.ebb(t, nil, "directory", "resolve", "alice@example.org"); r.Code != diag.ExNoUser {
				t.Fatalf("resolve after removal: exit %d; want 67", r.Code)
			}
			var left []directory.Domain
			json.Unmarshal([]byte(b.must(t, nil, "domain", "list", "--json")), &left)
			if len(left) != 1 || left[0].Name != "xn--bcher-kva.example" {
				t.Fatalf("domains left = %+v; want only bücher.example (the alias went with its target)", left)
			}
		})
	}
}

// Two ebb processes adding users at the same moment both succeed: SQLite
// waits on busy_timeout in WAL mode, PostgreSQL just takes both.
func TestDirectoryConcurrentCLIWriters(t *testing.T) {
	t.Parallel()
	for _, b := range dirBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			b.must(t, nil, "domain", "add", "example.test")
			const per = 8
			var wg sync.WaitGroup
			results := make([][]harness.Result, 2)
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						results[w] = append(results[w], b.ebb(t, []byte("pw\n"), "user", "add", fmt.Sprintf("w%d-u%d@example.test", w, i)))
					}
				}()
			}
			wg.Wait()
			for _, rs := range results {
				for _, r := range rs {
					if r.Code != 0 {
						t.Errorf("concurrent user add: exit %d: %s", r.Code, r.Stderr)
					}
				}
			}
			var users []json.RawMessage
			json.Unmarshal([]byte(b.must(t, nil, "user", "list", "--json")), &users)
			if len(users) != 2*per {
				t.Fatalf("%d users after two concurrent writers; want %d", len(users), 2*per)
			}
		})
	}
}

// A SQLite file that another process keeps locked is a temporary error that
// names the file and says why, not a hang and not a permanent failure.
func TestDirectoryLockedSQLiteIsTemporary(t *testing.T) {
	t.Parallel()
	b := newDirBackend(t, "sqlite", "")
	b.must(t, nil, "domain", "add", "example.test")
	text := strings.Replace(string(mustRead(t, b.cfgFile)), `busy_timeout = "10s"`, `busy_timeout = "300ms"`, 1)
	os.WriteFile(b.cfgFile, []byte(text), 0o644)

	path := filepath.Join(b.dataDir, "directory.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	r := b.ebb(t, nil, "user", "add", "alice@example.test", "--no-password")
	if r.Code != diag.ExTempFail {
		t.Fatalf("user add on a locked file: exit %d %q; want 75", r.Code, r.Stderr)
	}
	for _, want := range []string{path, "locked", "busy_timeout"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("error %q does not say %q", r.Stderr, want)
		}
	}
	t.Logf("locked: %s", r.Stderr)
	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()
	b.must(t, nil, "user", "add", "alice@example.test", "--no-password")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A PostgreSQL nobody listens on: exit 75, naming host:port and the cause.
func TestDirectoryUnreachablePostgresNamesHostPort(t *testing.T) {
	t.Parallel()
	port := harness.FreePort(t)
	b := newDirBackend(t, "postgres", fmt.Sprintf("postgres://ebb:secretpw@127.0.0.1:%d/mail", port))
	r := b.ebb(t, nil, "user", "list")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if r.Code != diag.ExTempFail || !strings.Contains(r.Stderr, addr) || !strings.Contains(r.Stderr, "connection refused") {
		t.Fatalf("user list with PostgreSQL down: exit %d %q; want 75 naming %s and the cause", r.Code, r.Stderr, addr)
	}
	if strings.Contains(r.Stderr, "secretpw") {
		t.Fatalf("the error shows the password: %q", r.Stderr)
	}
}

// The passwd-file of a Dovecot installation, with every scheme made by the
// real tools (doveadm pw, openssl passwd), imports and each user logs in
// with the old password; the hash is then argon2id.
func TestDirectoryImportDovecotPasswdThenLogin(t *testing.T) {
	t.Parallel()
	harness.Install(t, "dovecot-core", "openssl")
	type user struct{ name, scheme, password, hash string }
	users := []*user{
		{name: "sha512", scheme: "SHA512-CRYPT", password: "pw-sha512"},
		{name: "sha256", scheme: "SHA256-CRYPT", password: "pw-sha256"},
		{name: "blf", scheme: "BLF-CRYPT", password: "pw-blf"},
		{name: "argon", scheme: "ARGON2ID", password: "pw-argon"},
		{name: "ssha", scheme: "SSHA512", password: "pw-ssha"},
		{name: "ossl6", scheme: "openssl -6", password: "pw-ossl6"},
		{name: "ossl5", scheme: "openssl -5", password: "pw-ossl5"},
	}
	for _, u := range users {
		var out []byte
		var err error
		if after, ok := strings.CutPrefix(u.scheme, "openssl "); ok {
			out, err = exec.Command("openssl", "passwd", after, u.password).Output()
			u.hash = map[string]string{"-6": "{SHA512-CRYPT}", "-5": "{SHA256-CRYPT}"}[after] + strings.TrimSpace(string(out))
		} else {
			out, err = exec.Command("doveadm", "pw", "-s", u.scheme, "-p", u.password).Output()
			u.hash = strings.TrimSpace(string(out))
		}
		if err != nil {
			t.Fatalf("hash for %s: %v", u.scheme, err)
		}
	}
	var file strings.Builder
	file.WriteString("# exported from dovecot\n")
	for _, u := range users {
		fmt.Fprintf(&file, "%s@example.test:%s:5000:5000::/home/vmail/%s::userdb_quota_rule=*:storage=512M\n", u.name, u.hash, u.name)
	}
	file.WriteString("plain@example.test:{PLAIN}pw-plain::::::\n") // refused: allow_plain is off
	file.WriteString("this line is broken\n")
	file.WriteString("bare:{SHA512-CRYPT}" + strings.TrimPrefix(users[0].hash, "{SHA512-CRYPT}") + "\n") // no @domain, no --domain

	for _, b := range dirBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			path := filepath.Join(filepath.Dir(b.cfgFile), "passwd")
			os.WriteFile(path, []byte(file.String()), 0o600)

			dry := b.ebb(t, nil, "import", "dovecot-passwd", path, "--dry-run")
			if !strings.Contains(dry.Stdout, "dry run") || !strings.Contains(dry.Stdout, "add domain example.test") {
				t.Fatalf("dry run printed %q", dry.Stdout)
			}
			if out := b.must(t, nil, "domain", "list", "--json"); strings.TrimSpace(out) != "[]" {
				t.Fatalf("the dry run changed the directory: %s", out)
			}

			r := b.ebb(t, nil, "import", "dovecot-passwd", path)
			if r.Code != diag.ExDataErr {
				t.Fatalf("import with bad lines: exit %d; want 65\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			for _, want := range []string{path + ":9: skipped", "allow_plain", path + ":10: skipped", path + ":11: skipped", "--domain"} {
				if !strings.Contains(r.Stderr, want) {
					t.Fatalf("import stderr %q lacks %q", r.Stderr, want)
				}
			}
			if !strings.Contains(r.Stdout, fmt.Sprintf("%d mailboxes added", len(users))) {
				t.Fatalf("import stdout %q", r.Stdout)
			}
			if r := b.ebb(t, []byte("wrong\n"), "user", "check", "sha512@example.test"); r.Code != diag.ExNoPerm {
				t.Errorf("a wrong password: exit %d; want 77", r.Code)
			}
			for _, u := range users {
				if r := b.ebb(t, []byte(u.password+"\n"), "user", "check", u.name+"@example.test"); r.Code != 0 {
					t.Errorf("%s (%s) login with its old password: exit %d %s", u.name, u.scheme, r.Code, r.Stderr)
				}
			}
			type listed struct {
				Address    string `json:"address"`
				Scheme     string `json:"password_scheme"`
				QuotaBytes int64  `json:"quota_bytes"`
			}
			list := func() []listed {
				var l []listed
				json.Unmarshal([]byte(b.must(t, nil, "user", "list", "--json")), &l)
				if len(l) != len(users) {
					t.Fatalf("user list: %d mailboxes, want %d", len(l), len(users))
				}
				return l
			}
			// ebb user check only reads: the imported hashes are as they were.
			for _, u := range list() {
				if (u.Scheme == "ARGON2ID") != (u.Address == "argon@example.test") {
					t.Errorf("%s after ebb user check: scheme %s; ebb user check rehashed it (it writes nothing)", u.Address, u.Scheme)
				}
			}
			// A login as the daemon checks one (SMTP AUTH) rehashes it.
			d := harness.OpenDir(t, b.cfg)
			for _, u := range users {
				if _, err := d.Authenticate(context.Background(), u.name+"@example.test", u.password); err != nil {
					t.Errorf("%s (%s) login: %v", u.name, u.scheme, err)
				}
			}
			for _, u := range list() {
				if u.Scheme != "ARGON2ID" || u.QuotaBytes != 512<<20 {
					t.Errorf("%s after login: scheme %s quota %d; want ARGON2ID (rehashed) and 512M", u.Address, u.Scheme, u.QuotaBytes)
				}
			}
			// The new argon2id hash is in Dovecot's format: Dovecot verifies it.
			mb, err := d.Mailbox(context.Background(), "blf@example.test")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("doveadm", "pw", "-t", mb.PasswordHash, "-p", "pw-blf").CombinedOutput(); err != nil {
				t.Fatalf("doveadm pw -t %s: %v\n%s", mb.PasswordHash, err, out)
			}
		})
	}
}

// A CSV import is one transaction: a dry run changes nothing, bad lines are
// named by number and skipped, the rest lands.
func TestDirectoryImportCSV(t *testing.T) {
	t.Parallel()
	b := newDirBackend(t, "sqlite", "")
	path := filepath.Join(filepath.Dir(b.cfgFile), "users.csv")
	os.WriteFile(path, []byte(strings.Join([]string{
		"address,password,quota,quota_messages,enabled,maildir",
		"ann@example.test,{SSHA512}mMw3VzRlPuhRI8rCrnIZx+WSSvNRQby1fs3NLgg/xc7XTTlz7keJVIHXQqwqLGiRWt/npvtOawJRxW9zxA9sVRzIg7k=,1G,,true,",
		"ben@example.test,,lots,,,",
		"cat@example.test,,,,no,/srv/mail/cat",
		"not-an-address,,,,,",
		"ann@example.test,,,,,",
	}, "\n")+"\n"), 0o600)
	r := b.ebb(t, nil, "import", "csv", path, "--dry-run", "--json")
	var res directory.ImportResult
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("import --json: %v\n%s", err, r.Stdout)
	}
	if !res.DryRun || res.AddedMailboxes != 2 || len(res.Bad) != 3 || res.Bad[0].Line != 3 || res.Bad[1].Line != 5 || res.Bad[2].Line != 6 {
		t.Fatalf("dry run = %+v", res)
	}
	if out := b.must(t, nil, "user", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("dry run changed the directory: %s", out)
	}
	b.ebb(t, nil, "import", "csv", path)
	b.must(t, []byte("secret\n"), "user", "check", "ann@example.test")
	out := b.must(t, nil, "directory", "resolve", "cat@example.test")
	if !strings.Contains(out, "disabled") {
		t.Fatalf("cat should be imported disabled: %s", out)
	}
}
