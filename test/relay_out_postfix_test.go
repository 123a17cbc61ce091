package test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// postfixReceiver is a real Postfix (package postfix) receiving on one
// loopback address for pf.example, with STARTTLS, its log in a file.
type postfixReceiver struct {
	Dir, Maillog, Mail string
}

// startPostfixReceiver starts it; extra lines go at the end of main.cf.
func startPostfixReceiver(t *testing.T, addr string, extra ...string) *postfixReceiver {
	t.Helper()
	harness.Install(t, "postfix")
	harness.RequireRoot(t)
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	T := harness.Dir(t)
	p := &postfixReceiver{Dir: T, Maillog: filepath.Join(T, "maillog"), Mail: filepath.Join(T, "mail")}
	etc := filepath.Join(T, "etc")
	for _, d := range []string{etc, filepath.Join(T, "queue"), filepath.Join(T, "data"), p.Mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var uid, gid int
	fmt.Sscan(pu.Uid, &uid)
	fmt.Sscan(pu.Gid, &gid)
	os.Chown(filepath.Join(T, "data"), uid, gid)
	os.Chown(p.Mail, uid, gid)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	// Only our smtpd, on addr, not chrooted (the temp dir is no chroot).
	var lines []string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet ") {
			l = addr + " inet n - n - - smtpd"
		}
		lines = append(lines, l)
	}
	os.WriteFile(filepath.Join(etc, "master.cf"), []byte(strings.Join(lines, "\n")), 0o644)
	cert, key := outCert(t, etc, "mx.pf.example")
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.pf.example
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
smtpd_tls_cert_file = %[2]s
smtpd_tls_key_file = %[3]s
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
virtual_mailbox_domains = pf.example
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:pf.example/bob/
virtual_uid_maps = static:%[4]d
virtual_gid_maps = static:%[5]d
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
%[6]s
`, T, cert, key, uid, gid, strings.Join(extra, "\n"))
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(main), 0o644)
	// postfix prints its fatal errors only to a terminal; script gives it one.
	run := func(cmd string) string {
		out, _ := exec.Command("script", "-qc", "postfix -c "+etc+" "+cmd, "/dev/null").CombinedOutput()
		return string(out)
	}
	if out := run("start"); !strings.Contains(out, "starting the Postfix mail system") || strings.Contains(out, "fatal") {
		t.Fatalf("postfix start:\n%s", out)
	}
	t.Cleanup(func() { run("stop") })
	harness.WaitTCP(t, addr, "220", 15*time.Second)
	return p
}

func (p *postfixReceiver) log() string {
	b, _ := os.ReadFile(p.Maillog)
	return string(b)
}

// Real Postfix as the receiving side: ebb relays a submitted message to
// it over STARTTLS; Postfix's log shows the TLS session and the message
// lands in its mailbox.
func TestRelayOutToPostfix(t *testing.T) {
	dns := startDNS(t)
	port := commonPort(t, "127.0.0.2", "127.0.0.12")
	pf := startPostfixReceiver(t, fmt.Sprintf("127.0.0.12:%d", port))
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"pf.example. MX 10 mx.pf.example.", "mx.pf.example. A 127.0.0.12")
	one := newOutInstance(t, outOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `tls = "encrypt"`})
	one.submit("alice@one.example", "bob@pf.example", "to postfix")
	deadline := time.Now().Add(20 * time.Second)
	var files []string
	for len(files) == 0 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(pf.Mail, "pf.example", "bob", "new", "*"))
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("postfix has %d messages for bob; its log:\n%s\nebb's:\n%s", len(files), tail(pf.log(), 20), tail(one.Log(), 20))
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "Subject: to postfix") || !strings.Contains(string(b), "with ESMTPS id") {
		t.Errorf("message:\n%s", b)
	}
	l := pf.log()
	if !strings.Contains(l, "TLS connection established from localhost[127.0.0.1]: TLSv1.3") {
		t.Errorf("postfix's log shows no TLS session:\n%s", tail(l, 20))
	}
	for _, line := range strings.Split(l, "\n") {
		if strings.Contains(line, "TLS connection established") || strings.Contains(line, "status=sent") {
			t.Log(line)
		}
	}
	one.waitMailq(10*time.Second, "Mail queue is empty")
}
