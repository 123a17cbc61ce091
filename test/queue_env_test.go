package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// queueEnv is an ebb serve with inbound SMTP on loopback, started as root
// and running as the unprivileged test user (so that file modes count),
// with the mailboxes bob and carol of example.test. Retries are an hour
// apart: in these tests only `ebb queue flush` or a restart retries.
type queueEnv struct {
	t     *testing.T
	Dir   string
	Conf  string
	Spool string
	Mail  string
	SMTP  string
	User  harness.User
	srv   *harness.Serve // nil while the daemon is not running
}

// newQueueEnv writes the config and the directory; beforeStart may prepare
// the spool (e.g. mount a tmpfs there). It does not start the daemon.
func newQueueEnv(t *testing.T, extraQueue string) *queueEnv {
	t.Helper()
	harness.RequireRoot(t)
	e := &queueEnv{t: t, Dir: harness.Dir(t), User: harness.Unprivileged(t)}
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Spool = filepath.Join(e.Dir, "spool")
	e.Mail = filepath.Join(e.Dir, "mail")
	e.SMTP = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	conf := fmt.Sprintf(`[server]
hostname = "mx.example.test"
user = %q
data_dir = %q

[mail]
root = %q

[queue]
spool = %q
retry_min = "1h"
retry_max = "2h"
%s

[smtp]
listen = [%q]
shutdown_timeout = "5s"

[metrics]
listen = ""
`, e.User.Name, filepath.Join(e.Dir, "data"), e.Mail, e.Spool, extraQueue, e.SMTP)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail", "spool"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o700)
		harness.Chown(t, filepath.Join(e.Dir, d), e.User)
	}
	e.ebbAsUser(nil, "domain", "add", "-c", e.Conf, "example.test")
	e.ebbAsUser(nil, "user", "add", "-c", e.Conf, "--no-password", "bob@example.test")
	e.ebbAsUser(nil, "user", "add", "-c", e.Conf, "--no-password", "carol@example.test")
	t.Cleanup(e.Stop)
	return e
}

func (e *queueEnv) ebbAsUser(stdin []byte, args ...string) harness.Result {
	e.t.Helper()
	return harness.EbbAs(e.t, e.User, stdin, args...)
}

// ebb runs an ebb command as root (mailq and queue commands work as root
// too: root reads the 0700 spool and reaches the control socket).
func (e *queueEnv) ebb(args ...string) harness.Result {
	e.t.Helper()
	return harness.Run(e.t, exec.Command(harness.Ebb(e.t), args...), nil)
}

// Start runs ebb serve as root (it drops to the test user) and waits for
// the SMTP greeting.
func (e *queueEnv) Start() {
	e.t.Helper()
	e.srv = harness.StartServe(e.t, e.Conf, filepath.Join(e.Dir, "serve.log"))
	harness.WaitTCP(e.t, e.SMTP, "220", 15*time.Second)
	// The control socket comes up with the queue runner.
	e.waitFor("the control socket", func() bool {
		fi, err := os.Stat(filepath.Join(e.Spool, "control"))
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
}

// Stop ends the daemon with SIGTERM and waits for it.
func (e *queueEnv) Stop() {
	if e.srv != nil {
		e.srv.Stop()
		e.srv = nil
	}
}

// Kill ends the daemon with SIGKILL, as a crash would.
func (e *queueEnv) Kill() {
	e.srv.Kill()
	e.srv = nil
}

func (e *queueEnv) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	return string(b)
}

func (e *queueEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("not within 30s: %s\nlog:\n%s", what, e.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// maildir is a mailbox's Maildir under mail.maildir's default template.
func (e *queueEnv) maildir(local string) string {
	return filepath.Join(e.Mail, "example.test", local, "Maildir")
}

// rootOwnedMaildir makes the Maildir box (tmp/, new/, cur/) owned by root,
// 0755, under a mail root that is the daemon user's: the seed's story, a
// Maildir the delivery user cannot write.
func (e *queueEnv) rootOwnedMaildir(box string) {
	e.t.Helper()
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(box, sub), 0o755)
	}
	harness.Chown(e.t, e.Mail, e.User)
	for _, p := range []string{box, filepath.Join(box, "tmp"), filepath.Join(box, "new"), filepath.Join(box, "cur")} {
		os.Chown(p, 0, 0)
	}
}

// delivered returns the files in local's new/.
func (e *queueEnv) delivered(local string) []string {
	ents, _ := os.ReadDir(filepath.Join(e.maildir(local), "new"))
	var out []string
	for _, en := range ents {
		out = append(out, filepath.Join(e.maildir(local), "new", en.Name()))
	}
	return out
}

var queuedAs = regexp.MustCompile(`250 2\.0\.0 Ok: queued as ([0-9A-Z]+)`)

// swaks sends one message with swaks and returns its output and exit code.
func (e *queueEnv) swaks(to string, bodyFile string) harness.Result {
	e.t.Helper()
	harness.Install(e.t, "swaks")
	args := []string{"--server", e.SMTP, "--from", "alice@example.org", "--to", to, "--timeout", "60"}
	if bodyFile != "" {
		args = append(args, "--data", "@"+bodyFile)
	}
	return harness.Run(e.t, exec.Command("swaks", args...), nil)
}

// mailqJSON is `ebb mailq --json`.
type mailqJSON struct {
	Messages []struct {
		ID         string
		Size       int64
		Recipients []struct {
			Address  string
			State    string
			Attempts int
			Reason   string
			Error    *struct {
				Errno string
				Path  string
				Ref   string
			}
		}
	}
	Summary struct {
		Messages int
		ByState  map[string]int `json:"by_state"`
		Reasons  []struct {
			Count  int
			State  string
			Reason string
			Hint   string
		}
	}
}

func (e *queueEnv) mailq() (string, mailqJSON) {
	e.t.Helper()
	text := e.ebb("mailq", "-c", e.Conf)
	if text.Code != 0 {
		e.t.Fatalf("mailq: exit %d: %s", text.Code, text.Stderr)
	}
	js := e.ebb("mailq", "-c", e.Conf, "--json")
	var q mailqJSON
	if err := json.Unmarshal([]byte(js.Stdout), &q); err != nil {
		e.t.Fatalf("mailq --json: %v\n%s", err, js.Stdout)
	}
	return text.Stdout, q
}

// writeMessage writes a message of about size bytes for swaks --data.
func writeMessage(t *testing.T, path, subject string, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "From: alice@example.org\r\nTo: bob@example.test\r\nSubject: %s\r\n\r\n", subject)
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for n := 0; n < size; n += len(line) {
		w.WriteString(line)
	}
	w.Flush()
	f.Close()
	os.Chmod(path, 0o644)
}

type syscallStat = syscall.Stat_t
