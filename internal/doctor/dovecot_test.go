package doctor

import (
	"testing"
)

const doveconfSample = `# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf
first_valid_uid = 111
mail_uid = vmail
passdb {
  args = /etc/dovecot/ebb-sql.conf.ext
  driver = sql
}
passdb {
  args = /etc/dovecot/users
  driver = passwd-file
}
service auth-worker {
  user = vmail
}
service imap-login {
  inet_listener imap {
    port = 143
  }
}
userdb {
  args = /etc/dovecot/ebb-sql.conf.ext
  driver = sql
}
`

func TestParseDoveconfFindsTheSQLDatabasesAndTheMailUser(t *testing.T) {
	v := parseDoveconf([]byte(doveconfSample))
	if len(v.sqlArgs) != 2 || v.sqlArgs[0] != "/etc/dovecot/ebb-sql.conf.ext" {
		t.Errorf("sql args %q, want the ebb file for passdb and userdb only", v.sqlArgs)
	}
	if v.mailUID != "vmail" || v.firstValid != 111 || v.lastValid != 0 || v.authWorkerUser != "vmail" {
		t.Errorf("parsed %+v", v)
	}
	if d := parseDoveconf(nil); d.firstValid != 500 {
		t.Errorf("Dovecot's default first_valid_uid is 500, got %d", d.firstValid)
	}
}

func TestSameDatabase(t *testing.T) {
	cases := []struct {
		driver, connect, engine, db string
		want                        bool
	}{
		{"sqlite", "/var/lib/ebb/directory.db", "sqlite", "/var/lib/ebb/directory.db", true},
		{"sqlite", "/var/lib/other.db", "sqlite", "/var/lib/ebb/directory.db", false},
		{"pgsql", "host=db port=5433 dbname=mail user=ebb password='x y'", "pgsql", "db:5433/mail", true},
		{"pgsql", "host=db dbname=mail", "pgsql", "db:5432/mail", true},
		{"pgsql", "host=db dbname=other", "pgsql", "db:5432/mail", false},
		{"mysql", "host=db dbname=mail", "pgsql", "db:5432/mail", false},
	}
	for _, c := range cases {
		if got := sameDatabase(c.driver, c.connect, c.engine, c.db); got != c.want {
			t.Errorf("sameDatabase(%q, %q, %q, %q) = %v", c.driver, c.connect, c.engine, c.db, got)
		}
	}
}

func FuzzParseDoveconf(f *testing.F) {
	f.Add([]byte(doveconfSample))
	f.Add([]byte("}\n}\npassdb {\ndriver = sql\n"))
	f.Add([]byte("first_valid_uid = x\nservice auth-worker {\n user = \n}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := parseDoveconf(b)
		for _, a := range v.sqlArgs {
			_ = a
		}
	})
}
