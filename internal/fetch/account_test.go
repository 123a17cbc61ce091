package fetch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// ebb fetch add's options become an account: default ports by protocol
// and TLS (RFC 8314 §3.3), folders, OAuth2 presets filling the server
// and endpoints; each mistake is a usage error that says which option.
func TestNewAccount(t *testing.T) {
	cases := []struct {
		o                AccountOptions
		host             string
		port             int
		folders          string
		after, auth, tls string
	}{
		{AccountOptions{Name: "w", Server: "imap.example.net", User: "a", To: "a@x"}, "imap.example.net", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "imap.example.net", TLS: "starttls", User: "a", To: "a@x"}, "imap.example.net", 143, "INBOX", "keep", "password", "starttls"},
		{AccountOptions{Name: "w", Server: "pop.example.net", Protocol: "POP3", User: "a", To: "a@x", After: "delete"}, "pop.example.net", 995, "INBOX", "delete", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "pop.example.net", Protocol: "pop3", TLS: "none", AllowPlaintext: true, User: "a", To: "a@x"}, "pop.example.net", 110, "INBOX", "keep", "password", "none"},
		{AccountOptions{Name: "w", Server: "127.0.0.1:1993", User: "a", To: "a@x", Folders: " INBOX , Lists/ebb,", After: "move", MoveTo: "Archive"}, "127.0.0.1", 1993, "INBOX,Lists/ebb", "move", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "[::1]:993", User: "a", To: "a@x"}, "::1", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "::1", User: "a", To: "a@x"}, "::1", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "g", OAuth2: "google", ClientID: "cid", User: "a@gmail.com", To: "a@x"}, "imap.gmail.com", 993, "INBOX", "keep", "oauth2", "implicit"},
		{AccountOptions{Name: "m", OAuth2: "microsoft", ClientID: "cid", Protocol: "pop3", User: "a@x.onmicrosoft.com", To: "a@x"}, "outlook.office365.com", 995, "INBOX", "keep", "oauth2", "implicit"},
	}
	for _, c := range cases {
		a, err := NewAccount(c.o)
		if err != nil {
			t.Errorf("%+v: %v", c.o, err)
			continue
		}
		if a.Host != c.host || a.Port != c.port || strings.Join(a.Folders, ",") != c.folders || a.After != c.after || a.Auth != c.auth ||
			a.TLS != c.tls || !a.Verify || !a.Enabled {
			t.Errorf("%+v: got %+v", c.o, a)
		}
	}
	g, _ := NewAccount(AccountOptions{Name: "g", OAuth2: "google", ClientID: "cid", User: "a@gmail.com", To: "a@x"})
	if g.OAuth == nil || g.OAuth.TokenURL != Providers["google"].TokenURL || g.OAuth.Mechanism != "XOAUTH2" || len(g.OAuth.Scopes) == 0 {
		t.Errorf("google preset: %+v", g.OAuth)
	}
	c, _ := NewAccount(AccountOptions{Name: "c", OAuth2: "custom", ClientID: "cid", TokenURL: "http://127.0.0.1/t", Scopes: "a b",
		Mechanism: "oauthbearer", Server: "h", User: "u", To: "a@x"})
	if c.OAuth == nil || c.OAuth.Mechanism != "OAUTHBEARER" || strings.Join(c.OAuth.Scopes, " ") != "a b" {
		t.Errorf("custom: %+v", c.OAuth)
	}

	bad := []struct {
		o     AccountOptions
		words string
	}{
		{AccountOptions{Server: "h", User: "u", To: "a@x"}, "NAME"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Protocol: "smtp"}, "--protocol"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", TLS: "none"}, "--allow-plaintext"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", TLS: "ssl"}, "--tls"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Protocol: "pop3", After: "move", MoveTo: "A"}, "POP3 has no folders"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", After: "move"}, "--move-to"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", MoveTo: "A"}, "--move-to is for --after move"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", After: "archive"}, "--after"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Interval: -time.Second}, "--interval"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Folders: " , "}, "--folder"},
		{AccountOptions{Name: "w", Server: "h:99999", User: "u", To: "a@x"}, "port"},
		{AccountOptions{Name: "w", Server: "h:imap", User: "u", To: "a@x"}, "port"},
		{AccountOptions{Name: "w", Server: "h/x", User: "u", To: "a@x"}, "not a host"},
		{AccountOptions{Name: "w", User: "u", To: "a@x"}, "--server, --user and --to"},
		{AccountOptions{Name: "w", Server: "h", To: "a@x"}, "--server, --user and --to"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "yahoo", ClientID: "c"}, "--oauth2"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "google"}, "--client-id"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "custom", ClientID: "c"}, "--token-url"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "google", ClientID: "c", Mechanism: "PLAIN"}, "--mechanism"},
	}
	for _, b := range bad {
		_, err := NewAccount(b.o)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), b.words) {
			t.Errorf("%+v: %v; want a usage error saying %q", b.o, err, b.words)
		}
	}
}

// ebb fetch set changes an account's connection and behaviour, checked as
// ebb fetch add checks them, and keeps what it is (login, mailbox, OAuth2).
func TestChange(t *testing.T) {
	a, _ := NewAccount(AccountOptions{Name: "w", Server: "127.0.0.1:1993", User: "u", To: "a@x", After: "move", MoveTo: "Archive"})
	a.Password = "pw"
	s := func(v string) *string { return &v }
	n, err := Change(a, Changes{Server: s("localhost:1993")})
	if err != nil || n.Host != "localhost" || n.Port != 1993 || n.Password != "pw" || n.After != "move" || n.MoveTo != "Archive" {
		t.Fatalf("--server: %+v, %v", n, err)
	}
	n, err = Change(a, Changes{TLS: s("starttls")})
	if err != nil || n.TLS != "starttls" || n.Port != 143 {
		t.Fatalf("--tls starttls: %+v, %v; want port 143", n, err)
	}
	n, err = Change(a, Changes{After: s("delete")})
	if err != nil || n.After != "delete" || n.MoveTo != "" || n.Port != 1993 {
		t.Fatalf("--after delete: %+v, %v", n, err)
	}
	if _, err := Change(a, Changes{TLS: s("none")}); err == nil {
		t.Fatal("--tls none without --allow-plaintext passes")
	}
	if _, err := Change(a, Changes{After: s("move"), MoveTo: s("")}); err == nil {
		t.Fatal("--after move without a folder passes")
	}
	n, err = Change(a, Changes{CAFile: s("/etc/ebb/ca.pem"), Folders: s("INBOX,Lists")})
	if err != nil || n.CAFile != "/etc/ebb/ca.pem" || len(n.Folders) != 2 {
		t.Fatalf("--ca-file --folder: %+v, %v", n, err)
	}
}

// readableBy follows the permission bits as the daemon's user meets them:
// search on every directory above, read on the file, the uid and its
// primary group only.
func TestReadableBy(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's own parent is 0700
	os.Chmod(dir, 0o755)
	f := filepath.Join(dir, "ca.pem")
	os.WriteFile(f, []byte("x"), 0o640)
	owner := os.Getuid()
	gid := os.Getgid()
	if err := readableBy(f, &diag.Identity{UID: owner, GID: gid}); err != nil {
		t.Fatalf("the owner: %v", err)
	}
	other := &diag.Identity{UID: 54321, GID: 54321}
	if err := readableBy(f, other); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("another user, file 0640: %v; want EACCES", err)
	}
	if err := readableBy(f, &diag.Identity{UID: 54321, GID: gid}); err != nil {
		t.Fatalf("the file's group: %v", err)
	}
	os.Chmod(f, 0o644)
	if err := readableBy(f, other); err != nil {
		t.Fatalf("another user, file 0644: %v", err)
	}
	os.Chmod(dir, 0o700)
	defer os.Chmod(dir, 0o755)
	if err := readableBy(f, other); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("a directory above it 0700: %v; want EACCES", err)
	}
	// The fix names the directory, and widens neither it nor the file.
	a := &fetchstate.FetchAccount{Name: "lab", CAFile: f}
	fix := caFileError(a, readableBy(f, other), other).(*diag.Error).Fix.String()
	if !strings.Contains(fix, "the directory "+dir+" is closed to uid 54321") || strings.Contains(fix, "chmod") ||
		!strings.Contains(fix, "ebb fetch set lab --ca-file THE-COPY") {
		t.Errorf("fix for a closed directory: %s", fix)
	}
	// A key in the file: it stays closed; the certificate goes alone.
	os.Chmod(dir, 0o755)
	os.WriteFile(f, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600)
	fix = caFileError(a, readableBy(f, other), other).(*diag.Error).Fix.String()
	if !strings.Contains(fix, "holds a private key") || strings.Contains(fix, "chmod") {
		t.Errorf("fix for a CA file with a key: %s", fix)
	}
}
