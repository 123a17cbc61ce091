package dovecotconf

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
)

func TestExprFollowsTheMaildirTemplate(t *testing.T) {
	cases := []struct {
		tmpl, root, want string
		err              bool
	}{
		{"{root}/{domain}/{local}/Maildir", "/var/vmail",
			"'/var/vmail' || '/' || m.domain || '/' || substr(m.address, 1, length(m.address) - length(m.domain) - 1) || '/Maildir'", false},
		{"/srv/{address}", "", "'/srv/' || substr(m.address, 1, length(m.address) - length(m.domain) - 1) || '@' || m.domain", false},
		// Quotes are doubled for SQL, % doubled for Dovecot's expansion.
		{"{root}/x", "/m'a%il", "'/m''a%%il' || '/x'", false},
		{"{root}/{user}", "/r", "", true},
		{"{root", "/r", "", true},
	}
	for _, c := range cases {
		got, err := expr(c.tmpl, c.root, "")
		if (err != nil) != c.err || got != c.want {
			t.Errorf("expr(%q, %q) = %q, %v; want %q (error %v)", c.tmpl, c.root, got, err, c.want, c.err)
		}
	}
}

func TestLibpqConnectFromPgxDSN(t *testing.T) {
	cases := []struct{ dsn, want string }{
		{"postgres://ebb:secret@db.example:5433/mail?sslmode=disable&search_path=t1",
			"host=db.example port=5433 dbname=mail user=ebb password=secret sslmode=disable options=-csearch_path=t1"},
		// A password with a space and a quote is quoted for libpq.
		{"postgres://ebb:a%20b%27c@127.0.0.1/mail",
			`host=127.0.0.1 port=5432 dbname=mail user=ebb password='a b\'c'`},
		{"host=127.0.0.1 port=5432 dbname=mail user=ebb password=pw sslmode=require",
			"host=127.0.0.1 port=5432 dbname=mail user=ebb password=pw sslmode=require"},
	}
	for _, c := range cases {
		got, _, err := libpqConnect(c.dsn)
		if err != nil || got != c.want {
			t.Errorf("libpqConnect(%q) = %q, %v; want %q", c.dsn, got, err, c.want)
		}
	}
	if _, _, err := libpqConnect("postgres://[bad"); err == nil || strings.Contains(err.Error(), "bad") {
		t.Errorf("a bad DSN: %v (the message must not echo the DSN, which may hold the password)", err)
	}
}

func TestGenerateNamesTheDirectoryAndTheMailUser(t *testing.T) {
	cfg, err := config.Parse("test.toml", []byte("[server]\nuser = \"vmail\"\ndata_dir = \"/var/lib/ebb\"\n[mail]\nroot = \"/var/vmail\"\nquota = \"1G\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Generate(cfg, Options{UID: 111, GID: 114})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"driver = sqlite", "connect = /var/lib/ebb/directory.db", "m.enabled = 1", "ELSE 1073741824 END"} {
		if !strings.Contains(f.SQL, want) {
			t.Errorf("SQL file lacks %q:\n%s", want, f.SQL)
		}
	}
	for _, want := range []string{"mail_uid = 111", "mail_gid = 114", "first_valid_uid = 111", "args = " + DefaultSQLConf, "user = vmail",
		"sieve = file:~/sieve;active=~/.dovecot.sieve", "quota = maildir:User quota"} {
		if !strings.Contains(f.Conf, want) {
			t.Errorf("snippet lacks %q:\n%s", want, f.Conf)
		}
	}
}

// The mail user's ids when it exists; when not, unknown ids and a note
// with the fix (the snippet still names the user).
func TestForUser(t *testing.T) {
	cfg := config.Defaults()
	cfg.Server.User, cfg.Server.Group = "nobody", ""
	o, note := ForUser(cfg, "/etc/dovecot/ebb-sql.conf.ext")
	if o.UID < 0 || o.GID < 0 || note != "" || o.SQLConf != "/etc/dovecot/ebb-sql.conf.ext" {
		t.Errorf("nobody: %+v %q", o, note)
	}
	cfg.Server.User = "ebb-no-such-user"
	o, note = ForUser(cfg, "x")
	if o.UID != -1 || o.GID != -1 || !strings.Contains(note, "server.user does not exist yet") || !strings.Contains(note, "ebb-no-such-user") {
		t.Errorf("missing user: %+v %q", o, note)
	}
}
