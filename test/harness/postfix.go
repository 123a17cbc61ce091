package harness

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SMTPSource is a run of Postfix's smtp-source load generator (package
// postfix; services.md section 5). Each session opens a new connection per
// message unless Reuse is set (-d). smtp-source does not pipeline.
type SMTPSource struct {
	Addr     string // host:port
	Messages int    // -m
	Sessions int    // -s
	Size     int    // -l: body bytes
	From, To string // -f, -t
	Rcpts    int    // -r: recipients per message (numbered: 1to, 2to, ...)
	Reuse    bool   // -d
	Subject  string // -S
}

// Command is the smtp-source command line, for running it in the
// background (a crash test kills the server under it).
func (s SMTPSource) Command(t testing.TB) *exec.Cmd {
	t.Helper()
	Install(t, "postfix")
	args := []string{"-m", strconv.Itoa(max(s.Messages, 1)), "-s", strconv.Itoa(max(s.Sessions, 1)),
		"-l", strconv.Itoa(s.Size), "-f", s.From, "-t", s.To}
	if s.Rcpts > 1 {
		args = append(args, "-r", strconv.Itoa(s.Rcpts))
	}
	if s.Reuse {
		args = append(args, "-d")
	}
	if s.Subject != "" {
		args = append(args, "-S", s.Subject)
	}
	args = append(args, s.Addr)
	return exec.Command("/usr/sbin/smtp-source", args...)
}

// Run runs smtp-source to the end. smtp-source exits non-zero when the
// server refuses a command.
func (s SMTPSource) Run(t testing.TB) Result {
	t.Helper()
	return Run(t, s.Command(t), nil)
}

func (s SMTPSource) String() string {
	return fmt.Sprintf("smtp-source -m %d -s %d -l %d → %s", s.Messages, s.Sessions, s.Size, s.Addr)
}

// Postfix is a private Postfix instance (package postfix): its own
// configuration, queue and data directories in a temporary directory, its
// log in a file, started and stopped with `postfix -c`. Every service runs
// unchrooted. With an smtpd address its smtpd listens there; without one it
// only sends: `sendmail -C` → pickup → cleanup → qmgr → smtp(8), its SMTP
// client, which the test points somewhere with main.cf lines (relayhost,
// smtp_tls_security_level, smtp_sasl_*). DNS is off: a relayhost is an
// [address].
type Postfix struct {
	Dir, Etc, Maillog string
}

// StartPostfix writes main.cf (a base for a private instance named
// hostname, then mainExtra) and master.cf (Debian's, unchrooted, with
// smtpd on smtpdAddr or none) and starts the instance. A mainExtra that
// needs a file of the instance finds its directory with the template
// {{dir}}.
func StartPostfix(t testing.TB, smtpdAddr, hostname, mainExtra string) *Postfix {
	t.Helper()
	var smtpds []string
	if smtpdAddr != "" {
		smtpds = []string{smtpdAddr}
	}
	return StartPostfixSMTPDs(t, smtpds, hostname, mainExtra)
}

// StartPostfixSMTPDs is StartPostfix with several smtpd services, each
// "ADDR:PORT" optionally followed by its own -o overrides (a certificate
// per address: "127.0.0.31:2525 -o smtpd_tls_cert_file=/x/cert.pem").
func StartPostfixSMTPDs(t testing.TB, smtpds []string, hostname, mainExtra string) *Postfix {
	t.Helper()
	Install(t, "postfix")
	RequireRoot(t)
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	T := Dir(t)
	p := &Postfix{Dir: T, Etc: filepath.Join(T, "etc"), Maillog: filepath.Join(T, "maillog")}
	for _, d := range []string{p.Etc, filepath.Join(T, "queue"), filepath.Join(T, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var uid, gid int
	fmt.Sscan(pu.Uid, &uid)
	fmt.Sscan(pu.Gid, &gid)
	os.Chown(filepath.Join(T, "data"), uid, gid)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(master), "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet "):
			if len(smtpds) == 0 {
				continue
			}
			var ls []string
			for _, sd := range smtpds {
				addr, opts, _ := strings.Cut(sd, " ")
				ls = append(ls, strings.TrimSpace(addr+" inet n - n - - smtpd "+opts))
			}
			l = strings.Join(ls, "\n")
		case len(f) >= 8 && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, " ") && f[4] == "y":
			f[4] = "n" // no chroot: the queue is a temporary directory
			l = strings.Join(f, " ")
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(filepath.Join(p.Etc, "master.cf"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = %[3]s
mydomain = %[3]s
myorigin = %[3]s
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtp_dns_support_level = disabled
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
%[2]s
`, T, strings.ReplaceAll(mainExtra, "{{dir}}", T), hostname)
	if err := os.WriteFile(filepath.Join(p.Etc, "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := p.postfix("start"); !strings.Contains(out, "starting the Postfix mail system") || strings.Contains(out, "fatal") {
		t.Fatalf("postfix start:\n%s", out)
	}
	t.Cleanup(func() { p.postfix("stop") })
	for _, sd := range smtpds {
		addr, _, _ := strings.Cut(sd, " ")
		WaitTCP(t, addr, "220", 15*time.Second)
	}
	return p
}

// postfix runs `postfix -c ETC cmd`; it prints its fatal errors only to a
// terminal, so script gives it one.
func (p *Postfix) postfix(cmd string) string {
	out, _ := exec.Command("script", "-qc", "postfix -c "+p.Etc+" "+cmd, "/dev/null").CombinedOutput()
	return string(out)
}

// Sendmail submits msg through the instance's sendmail (postdrop, then
// its pickup).
func (p *Postfix) Sendmail(t testing.TB, from string, to []string, msg string) Result {
	t.Helper()
	args := append([]string{"-C", p.Etc, "-oi", "-f", from, "--"}, to...) // -oi: a line "." is content
	return Run(t, exec.Command("/usr/sbin/sendmail", args...), []byte(msg))
}

// Log is the instance's maillog so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.Maillog)
	return string(b)
}

// WaitLog waits until the maillog holds s (Postfix writes it as it goes:
// a delivery's "status=" line is the event) and returns the log.
func (p *Postfix) WaitLog(t testing.TB, s string, timeout time.Duration) string {
	t.Helper()
	var l string
	if !WaitOn(timeout, func() bool { l = p.Log(); return strings.Contains(l, s) }, p.Maillog) {
		t.Fatalf("postfix's log has no %q after %s:\n%s", s, timeout, l)
	}
	return l
}
