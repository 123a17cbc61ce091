package directory

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/test/harness"
)

// directoryFindings runs ebb doctor --json and returns the directory findings.
func directoryFindings(t *testing.T, b *dirBackend) []map[string]any {
	t.Helper()
	harness.EmptyDNS(t, b.cfgFile) // relay.dns and auth.dns ask a test server, not the host's resolver
	r := b.ebb(t, nil, "doctor", "--json")
	var doc struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	var out []map[string]any
	for _, f := range doc.Findings {
		if f["check"] == "directory" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("doctor has no directory finding:\n%s", r.Stdout)
	}
	return out
}

func findingWith(fs []map[string]any, status string, words ...string) bool {
	for _, f := range fs {
		msg := fmt.Sprint(f["message"], " ", f["subject"])
		ok := f["status"] == status
		for _, w := range words {
			ok = ok && strings.Contains(msg, w)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestDirectoryDoctor(t *testing.T) {
	t.Parallel()
	pg := harness.SharedPostgres(t)

	t.Run("a DSN with nobody listening names host, port and cause", func(t *testing.T) {
		port := harness.FreePort(t)
		b := newDirBackend(t, "postgres", fmt.Sprintf("postgres://ebb:pw@127.0.0.1:%d/mail", port))
		fs := directoryFindings(t, b)
		if !findingWith(fs, "fail", fmt.Sprintf("127.0.0.1:%d", port), "connection refused") {
			t.Fatalf("findings %v; want a failure naming 127.0.0.1:%d and connection refused", fs, port)
		}
	})
	t.Run("wrong credentials name host, port and the server's refusal", func(t *testing.T) {
		dsn := strings.Replace(pg.NewDatabase(t), ":"+pg.Password+"@", ":not-the-password@", 1)
		b := newDirBackend(t, "postgres", dsn)
		fs := directoryFindings(t, b)
		if !findingWith(fs, "fail", pg.Addr(), "password authentication failed", "directory.dsn") {
			t.Fatalf("findings %v; want a failure naming %s and the authentication failure", fs, pg.Addr())
		}
		if strings.Contains(fmt.Sprint(fs), "not-the-password") {
			t.Fatal("doctor printed the password")
		}
	})
	t.Run("a reachable PostgreSQL reports its schema version", func(t *testing.T) {
		b := newDirBackend(t, "postgres", pg.NewDatabase(t))
		b.must(t, nil, "domain", "add", "example.test")
		if fs := directoryFindings(t, b); !findingWith(fs, "ok", fmt.Sprintf("schema version %d", directory.SchemaVersion()), "1 domain") {
			t.Fatalf("findings %v; want ok with the schema version", fs)
		}
	})
	t.Run("a SQLite folder the daemon user cannot write fails, naming it", func(t *testing.T) {
		b := newDirBackend(t, "sqlite", "")
		b.must(t, nil, "domain", "add", "example.test")
		if fs := directoryFindings(t, b); !findingWith(fs, "ok", fmt.Sprintf("schema version %d", directory.SchemaVersion())) {
			t.Fatalf("findings %v; want ok", fs)
		}
		os.Chown(b.dataDir, 0, 0)
		os.Chmod(b.dataDir, 0o755)
		if fs := directoryFindings(t, b); !findingWith(fs, "fail", b.dataDir, harness.TestUser) {
			t.Fatalf("findings %v; want a failure naming %s and %s", fs, b.dataDir, harness.TestUser)
		}
	})
}
