package relay

import (
	"fmt"
	"os"
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
	return startPostfix(t, []postfixListener{{Addr: addr}}, []string{"pf.example"}, extra...)
}

// postfixListener is one smtpd of a Postfix receiver: its address and,
// when set, a certificate of its own (PEM files; the chain after the leaf
// in Cert) instead of the self-signed one for mx.pf.example.
type postfixListener struct {
	Addr, Cert, Key string
}

// startPostfix starts a Postfix receiving for domains (every address
// lands in the mailbox of bob) on each listener.
func startPostfix(t *testing.T, listeners []postfixListener, domains []string, extra ...string) *postfixReceiver {
	t.Helper()
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	var uid, gid int
	fmt.Sscan(pu.Uid, &uid)
	fmt.Sscan(pu.Gid, &gid)
	etc := harness.Dir(t)
	cert, key := harness.OutCert(t, etc, "mx.pf.example")
	var smtpds []string
	for _, l := range listeners {
		sd := l.Addr
		if l.Cert != "" {
			sd += " -o smtpd_tls_cert_file=" + l.Cert + " -o smtpd_tls_key_file=" + l.Key
		}
		smtpds = append(smtpds, sd)
	}
	pf := harness.StartPostfixSMTPDs(t, smtpds, "mx.pf.example", fmt.Sprintf(`smtpd_tls_cert_file = %s
smtpd_tls_key_file = %s
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
virtual_mailbox_domains = %s
virtual_mailbox_base = {{dir}}/mail
virtual_mailbox_maps = static:pf.example/bob/
virtual_uid_maps = static:%d
virtual_gid_maps = static:%d
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
%s`, cert, key, strings.Join(domains, ", "), uid, gid, strings.Join(extra, "\n")))
	p := &postfixReceiver{Dir: pf.Dir, Maillog: pf.Maillog, Mail: filepath.Join(pf.Dir, "mail")}
	if err := os.MkdirAll(p.Mail, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(p.Mail, uid, gid)
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
	t.Parallel()
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.12")
	pf := startPostfixReceiver(t, fmt.Sprintf("127.0.0.12:%d", port))
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"pf.example. MX 10 mx.pf.example.", "mx.pf.example. A 127.0.0.12")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `tls = "encrypt"`})
	one.Submit("alice@one.example", "bob@pf.example", "to postfix")
	bobNew := filepath.Join(pf.Mail, "pf.example", "bob", "new")
	harness.WaitFiles(bobNew, 1, 20*time.Second)
	files, _ := filepath.Glob(filepath.Join(bobNew, "*"))
	if len(files) != 1 {
		t.Fatalf("postfix has %d messages for bob; its log:\n%s\nebb's:\n%s", len(files), harness.Tail(pf.log(), 20), harness.Tail(one.Log(), 20))
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "Subject: to postfix") || !strings.Contains(string(b), "with ESMTPS id") {
		t.Errorf("message:\n%s", b)
	}
	l := pf.log()
	if !strings.Contains(l, "TLS connection established from localhost[127.0.0.1]: TLSv1.3") {
		t.Errorf("postfix's log shows no TLS session:\n%s", harness.Tail(l, 20))
	}
	for _, line := range strings.Split(l, "\n") {
		if strings.Contains(line, "TLS connection established") || strings.Contains(line, "status=sent") {
			t.Log(line)
		}
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")
}
