package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DovecotEbbEnv is an ebb daemon and the Dovecot that serves its users.
type DovecotEbbEnv struct {
	*ServeEnv
	Imap, Sieve string
	Dc          *Dovecot
}

func (e *ServeEnv) EbbAs(t *testing.T, stdin []byte, args ...string) Result {
	t.Helper()
	return EbbAs(t, e.User, stdin, args...)
}

// StartDovecotOnEbb starts Dovecot as an administrator would set it up: the
// snippet and SQL file ebb prints, included from a dovecot.conf that adds
// only the instance's own settings (directories, loopback listeners).
func StartDovecotOnEbb(t *testing.T, e *ServeEnv, dir string) *DovecotEbbEnv {
	t.Helper()
	for _, s := range []string{"run", "state"} {
		os.MkdirAll(filepath.Join(dir, s), 0o755)
	}
	sqlConf := filepath.Join(dir, "ebb-sql.conf.ext")
	snippet := filepath.Join(dir, "99-ebb.conf")
	sql := EbbAs(t, e.User, nil, "dovecot", "sql", "-c", e.Conf).Stdout
	conf := EbbAs(t, e.User, nil, "dovecot", "config", "-c", e.Conf, "--sql-conf", sqlConf).Stdout
	os.WriteFile(sqlConf, []byte(sql), 0o640)
	os.WriteFile(snippet, []byte(conf), 0o644)
	d := &DovecotEbbEnv{ServeEnv: e,
		Imap:  fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		Sieve: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	main := fmt.Sprintf(`instance_name = ebbdc-%[2]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap sieve
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]s
  }
}
service managesieve-login {
  inet_listener sieve {
    address = 127.0.0.1
    port = %[3]s
  }
}
!include %[4]s
`, dir, strings.Split(d.Imap, ":")[1], strings.Split(d.Sieve, ":")[1], snippet)
	mainPath := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(mainPath, []byte(main), 0o644)
	d.Dc = StartDovecotConf(t, dir, mainPath, d.Imap)
	return d
}

// ImapLogin reports whether user can log in with pass, connecting from
// the loopback address from.
func ImapLogin(addr, from, user, pass string) error {
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return err
	}
	q := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	fmt.Fprintf(c, "a LOGIN %s %s\r\n", q(user), q(pass))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "a ") {
			if strings.HasPrefix(line, "a OK") {
				return nil
			}
			return fmt.Errorf("%s", strings.TrimSpace(line))
		}
	}
}
