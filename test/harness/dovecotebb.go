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

// NewDovecotServeEnv is the ebb serve a test puts Dovecot on: Dovecot's
// packages, the directory's argon2 memory at 16M (Dovecot checks every
// login's password with it), doctor.dovecot_config naming dir/dovecot.conf
// (where StartDovecotOnEbb writes it), and alice@example.test with the
// password alice-pw. dir is the temp dir for Dovecot's own files.
func NewDovecotServeEnv(t *testing.T) (e *ServeEnv, dir string) {
	t.Helper()
	RequireRoot(t)
	Install(t, "dovecot-core", "dovecot-imapd", "dovecot-sqlite")
	dir = Dir(t)
	e = NewServeEnv(t, ServeOpts{Extra: fmt.Sprintf("[doctor]\ndovecot_config = %q\n[directory]\nargon2_memory = \"16M\"\n", filepath.Join(dir, "dovecot.conf"))})
	e.EbbAs(t, []byte("alice-pw\n"), "user", "passwd", "-c", e.Conf, "alice@example.test")
	return e, dir
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
	d := &DovecotEbbEnv{ServeEnv: e}
	imapPort, sievePort := FreePort(t), FreePort(t)
	d.Imap, d.Sieve = fmt.Sprintf("127.0.0.1:%d", imapPort), fmt.Sprintf("127.0.0.1:%d", sievePort)
	main := DovecotHead(fmt.Sprintf("ebbdc-%d", imapPort), dir, "imap sieve") + "ssl = no\nauth_mechanisms = plain login\n" +
		DovecotService("imap-login", DovecotInet{Name: "imap", Port: imapPort}) +
		DovecotService("managesieve-login", DovecotInet{Name: "sieve", Port: sievePort}) +
		"!include " + snippet + "\n"
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
