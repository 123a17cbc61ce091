package msgauth

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

func TestKeygenDefaultsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	k, err := Keygen(dir, nil, "Example.ORG.", "", "ed25519", false, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if k.Domain != "example.org" || k.Selector != "ed25519-20261201" || k.Path != filepath.Join(dir, "example.org", "ed25519-20261201.pem") || k.Pending {
		t.Errorf("key %+v", k)
	}
	var b bytes.Buffer
	WriteKeygen(&b, k, dir, &mailuser.User{Name: "vmail"}, false)
	for _, w := range []string{"DKIM key ed25519-20261201 for example.org (ed25519) written to " + k.Path + " (mode 0600, owner vmail); it signs mail from example.org from now on.\n",
		"Publish this TXT record in the zone of example.org:\n\n" + k.ZoneLine() + "\n\nThen check it with: ebb dkim list\n"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("keygen text lacks %q:\n%s", w, b.String())
		}
	}
	k, err = Keygen(dir, nil, "example.org", "next", "rsa", true, nil, now)
	if err != nil || !k.Pending || k.Algorithm != "rsa" || !strings.HasSuffix(k.Path, "next.pem.pending") {
		t.Fatalf("pending rsa key: %+v, %v", k, err)
	}
	b.Reset()
	WriteKeygen(&b, k, dir, nil, true)
	if w := "(mode 0600, owner " + diag.Self().String() + "); pending: it signs once renamed to " + filepath.Join(dir, "example.org", "next.pem") + ".\n"; !strings.Contains(b.String(), w) {
		t.Errorf("pending keygen text lacks %q:\n%s", w, b.String())
	}
	var ec interface{ ExitCode() int }
	for _, bad := range []struct{ domain, selector, alg string }{
		{"a/b", "s", "ed25519"}, {"", "s", "ed25519"}, {"x@example.org", "s", "ed25519"},
		{"example.org", "bad selector", "ed25519"}, {"example.org", "s", "dsa"},
	} {
		_, err := Keygen(dir, nil, bad.domain, bad.selector, bad.alg, false, nil, now)
		if !errors.As(err, &ec) || ec.ExitCode() != diag.ExUsage {
			t.Errorf("Keygen(%q, %q, %q) = %v, want a usage error", bad.domain, bad.selector, bad.alg, err)
		}
	}
	// A selector is never written twice, pending or not.
	_, err = Keygen(dir, &diag.Setting{Key: "dkim.key_dir"}, "example.org", "next", "ed25519", false, nil, now)
	d, ok := diag.As(err)
	if !ok || d.ExitCode() != diag.ExCantCreat || !strings.Contains(d.Hint, "choose another --selector") || d.Setting.Key != "dkim.key_dir" {
		t.Errorf("existing selector: %v", err)
	}
}

func TestCheckKeysSaysWhatDNSHas(t *testing.T) {
	w := newWorld(t)
	pub := w.key(t, "example.org", "a", "ed25519", true)
	w.key(t, "example.org", "b", "ed25519", false)
	w.key(t, "example.net", "c", "rsa", true)
	cs, err := CheckKeys(context.Background(), w.dir, nil, w.res, 5*time.Second)
	if err != nil || len(cs) != 3 {
		t.Fatalf("CheckKeys: %d, %v", len(cs), err)
	}
	got := map[string]string{}
	for _, c := range cs {
		got[c.Key.RecordName()] = c.DNS()
	}
	if got[pub.RecordName()] != "matches" || got["c._domainkey.example.net"] != "matches" || !strings.Contains(got["b._domainkey.example.org"], "no TXT record") {
		t.Errorf("DNS states: %q", got)
	}
	var b bytes.Buffer
	WriteKeyTable(&b, w.dir, cs)
	if !strings.Contains(b.String(), "DOMAIN") || !strings.Contains(b.String(), "example.net  c         rsa        signing  matches") {
		t.Errorf("table:\n%s", b.String())
	}
	st := Statuses(cs)
	if len(st) != 3 || st[0].Record == "" || st[0].State != "signing" {
		t.Errorf("statuses %+v", st)
	}
	if s := Statuses(nil); s == nil || len(s) != 0 {
		t.Errorf("no keys: %#v, want an empty list for JSON", s)
	}
	// A key that cannot be parsed is its domain's entry; the other
	// domains are still checked.
	os.WriteFile(filepath.Join(w.dir, "example.org", "z.pem"), []byte("junk"), 0o600)
	cs, err = CheckKeys(context.Background(), w.dir, nil, w.res, 5*time.Second)
	if err != nil || len(cs) != 2 || cs[0].Domain != "example.net" || cs[0].Key == nil || cs[1].Domain != "example.org" || cs[1].LoadErr == nil || cs[1].Key != nil ||
		!strings.Contains(cs[1].LoadErr.Hint, "ebb dkim keygen") {
		t.Errorf("a bad key file: %+v, %v", cs, err)
	}
	if len(Statuses(cs)) != 1 {
		t.Errorf("statuses list a domain that could not be read: %+v", Statuses(cs))
	}
	if cs, err := CheckKeys(context.Background(), filepath.Join(w.dir, "none"), nil, w.res, time.Second); err != nil || cs != nil {
		t.Errorf("no key directory: %v, %v", cs, err)
	}
	// A key the reader cannot open names the file.
	if os.Geteuid() != 0 {
		os.Remove(filepath.Join(w.dir, "example.org", "z.pem"))
		os.Chmod(filepath.Join(w.dir, "example.net", "c.pem"), 0)
		cs, _ = CheckKeys(context.Background(), w.dir, nil, w.res, 5*time.Second)
		if len(cs) == 0 || cs[0].LoadErr == nil || cs[0].LoadErr.Path != filepath.Join(w.dir, "example.net", "c.pem") || cs[0].LoadErr.Errno != "EACCES" {
			t.Errorf("an unreadable key: %+v", cs)
		}
	}
	// A key directory that is a file is the error of the whole walk.
	file := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(file, nil, 0o600)
	if _, err := CheckKeys(context.Background(), file, nil, w.res, time.Second); err == nil {
		t.Error("a key directory that is a file")
	} else if d, ok := diag.As(err); !ok || d.Path != file {
		t.Errorf("a key directory that is a file: %v", err)
	}
}

// ebb dkim keygen and list on a config: the key goes to dkim.key_dir
// (server.data_dir/dkim without it), for server.user when run as root; a
// domain whose keys cannot be read fails the listing, naming the file.
func TestKeygenForAndListKeysOnAConfig(t *testing.T) {
	w := newWorld(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Server.DataDir, cfg.Server.User, cfg.Server.Group = w.dir, me.Username, ""
	var b bytes.Buffer
	cs, err := ListKeys(context.Background(), cfg, w.res)
	WriteKeyTable(&b, cfg.DKIMKeyDir(), cs)
	if err != nil || b.String() != "no DKIM keys in "+filepath.Join(w.dir, "dkim")+"; make one with: ebb dkim keygen DOMAIN\n" {
		t.Errorf("no keys: %v, %q", err, b.String())
	}
	b.Reset()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := KeygenFor(&b, cfg, "example.org", "", "ed25519", false, now); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, "dkim", "example.org", "ed25519-20261201.pem")
	if !strings.HasPrefix(b.String(), "DKIM key ed25519-20261201 for example.org (ed25519) written to "+path+" (mode 0600, owner ") {
		t.Errorf("keygen said %q", b.String())
	}
	cs, err = ListKeys(context.Background(), cfg, w.res)
	if err != nil || len(cs) != 1 || cs[0].Key.Path != path || cs[0].DNS() == "matches" {
		t.Errorf("listed %+v, %v", cs, err)
	}
	if err := KeygenFor(&b, cfg, "example.org", "ed25519-20261201", "ed25519", false, now); err == nil {
		t.Error("a selector written twice")
	}
	os.WriteFile(filepath.Join(w.dir, "dkim", "example.org", "junk.pem"), []byte("junk"), 0o600)
	if _, err := ListKeys(context.Background(), cfg, w.res); err == nil || !strings.Contains(err.Error(), "example.org") {
		t.Errorf("a bad key file: %v", err)
	}
	cfg.Server.User = "no-such-user-ebb"
	if err := KeygenFor(&b, cfg, "example.net", "", "ed25519", false, now); (err == nil) == (os.Geteuid() == 0) {
		t.Errorf("as uid %d with an unknown server.user: %v", os.Geteuid(), err)
	}
}
