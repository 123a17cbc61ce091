package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// QueueEnv is an ebb serve with inbound SMTP on loopback, started as root
// and running as the unprivileged test user (so that file modes count),
// with the mailboxes bob and carol of example.test. Retries are an hour
// apart: in these tests only `ebb queue flush` or a restart retries.
type QueueEnv struct {
	t     *testing.T
	Dir   string
	Conf  string
	Spool string
	Mail  string
	SMTP  string
	User  User
	Srv   *Serve // nil while the daemon is not running
}

// NewQueueEnv writes the config and the directory; beforeStart may prepare
// the spool (e.g. mount a tmpfs there). It does not start the daemon.
func NewQueueEnv(t *testing.T, extraQueue string) *QueueEnv {
	t.Helper()
	RequireRoot(t)
	e := &QueueEnv{t: t, Dir: Dir(t), User: Unprivileged(t)}
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Spool = filepath.Join(e.Dir, "spool")
	e.Mail = filepath.Join(e.Dir, "mail")
	e.SMTP = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	conf := ConfHead("mx.example.test", e.User.Name, e.Dir) + fmt.Sprintf(`retry_min = "1h"
retry_max = "2h"
%s

[smtp]
listen = [%q]
shutdown_timeout = "5s"

[metrics]
listen = ""
`, extraQueue, e.SMTP)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail", "spool"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o700)
		Chown(t, filepath.Join(e.Dir, d), e.User)
	}
	e.EbbAsUser(nil, "domain", "add", "-c", e.Conf, "example.test")
	e.EbbAsUser(nil, "user", "add", "-c", e.Conf, "--no-password", "bob@example.test")
	e.EbbAsUser(nil, "user", "add", "-c", e.Conf, "--no-password", "carol@example.test")
	t.Cleanup(e.Stop)
	return e
}

func (e *QueueEnv) EbbAsUser(stdin []byte, args ...string) Result {
	e.t.Helper()
	return EbbAs(e.t, e.User, stdin, args...)
}

// Ebb runs an ebb command as root (mailq and queue commands work as root
// too: root reads the 0700 spool and reaches the control socket).
func (e *QueueEnv) Ebb(args ...string) Result {
	e.t.Helper()
	return Run(e.t, exec.Command(Ebb(e.t), args...), nil)
}

// Start runs ebb serve as root (it drops to the test user) and waits for
// the SMTP greeting.
func (e *QueueEnv) Start() {
	e.t.Helper()
	e.Srv = StartServe(e.t, e.Conf, filepath.Join(e.Dir, "serve.log"))
	WaitTCP(e.t, e.SMTP, "220", 15*time.Second)
	// The control socket comes up with the queue runner.
	e.WaitFor("the control socket", func() bool {
		fi, err := os.Stat(filepath.Join(e.Spool, "control"))
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
}

// Stop ends the daemon with SIGTERM and waits for it.
func (e *QueueEnv) Stop() {
	if e.Srv != nil {
		e.Srv.Stop()
		e.Srv = nil
	}
}

// Kill ends the daemon with SIGKILL, as a crash would.
func (e *QueueEnv) Kill() {
	e.Srv.Kill()
	e.Srv = nil
}

// LogFile is the daemon's log file.
func (e *QueueEnv) LogFile() string { return filepath.Join(e.Dir, "serve.log") }

func (e *QueueEnv) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	return string(b)
}

func (e *QueueEnv) WaitFor(what string, cond func() bool) {
	e.t.Helper()
	// What a queue test waits for shows in the spool or the log.
	if !WaitOn(30*time.Second, cond, filepath.Join(e.Spool, "queue"), filepath.Join(e.Dir, "serve.log")) {
		e.t.Fatalf("not within 30s: %s\nlog:\n%s", what, e.Log())
	}
}

// Maildir is a mailbox's Maildir under mail.maildir's default template.
func (e *QueueEnv) Maildir(local string) string {
	return filepath.Join(e.Mail, "example.test", local, "Maildir")
}

// RootOwnedMaildir makes the Maildir box (tmp/, new/, cur/) owned by root,
// 0755, under a mail root that is the daemon user's: the seed's story, a
// Maildir the delivery user cannot write.
func (e *QueueEnv) RootOwnedMaildir(box string) {
	e.t.Helper()
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(box, sub), 0o755)
	}
	Chown(e.t, e.Mail, e.User)
	for _, p := range []string{box, filepath.Join(box, "tmp"), filepath.Join(box, "new"), filepath.Join(box, "cur")} {
		os.Chown(p, 0, 0)
	}
}

// Delivered returns the files in local's new/.
func (e *QueueEnv) Delivered(local string) []string {
	ents, _ := os.ReadDir(filepath.Join(e.Maildir(local), "new"))
	var out []string
	for _, en := range ents {
		out = append(out, filepath.Join(e.Maildir(local), "new", en.Name()))
	}
	return out
}

// Swaks sends one message with swaks and returns its output and exit code.
func (e *QueueEnv) Swaks(to string, bodyFile string) Result {
	e.t.Helper()
	Install(e.t, "swaks")
	args := []string{"--server", e.SMTP, "--from", "alice@example.org", "--to", to, "--timeout", "60"}
	if bodyFile != "" {
		args = append(args, "--data", "@"+bodyFile)
	}
	return Run(e.t, exec.Command("swaks", args...), nil)
}

// MailqJSON is `ebb mailq --json`.
type MailqJSON struct {
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

func (e *QueueEnv) Mailq() (string, MailqJSON) {
	e.t.Helper()
	text := e.Ebb("mailq", "-c", e.Conf)
	if text.Code != 0 {
		e.t.Fatalf("mailq: exit %d: %s", text.Code, text.Stderr)
	}
	js := e.Ebb("mailq", "-c", e.Conf, "--json")
	var q MailqJSON
	if err := json.Unmarshal([]byte(js.Stdout), &q); err != nil {
		e.t.Fatalf("mailq --json: %v\n%s", err, js.Stdout)
	}
	return text.Stdout, q
}

// WriteMessage writes a message of about size bytes for swaks --data.
func WriteMessage(t *testing.T, path, subject string, size int) {
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
