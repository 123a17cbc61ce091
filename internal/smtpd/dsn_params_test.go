package smtpd

import (
	"strings"
	"testing"
)

// RFC 3461 parameters reach the spool as the client gave them (decoded),
// and REQUIRETLS (RFC 8689) is offered and accepted only over TLS.
func TestDSNParametersAndREQUIRETLSReachTheSpool(t *testing.T) {
	ts := startServer(t, mapDirectory{}, selfSigned(t, "mx.example.test"), nil)
	c, _ := dial(t, ts.addr)
	ehlo := c.cmd("EHLO client.example.org")
	if !strings.Contains(ehlo, "DSN") {
		t.Fatalf("DSN not offered:\n%s", ehlo)
	}
	if strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered before STARTTLS:\n%s", ehlo)
	}
	if got := c.cmd("MAIL FROM:<s@example.org> REQUIRETLS"); !strings.HasPrefix(got, "530 5.7.10") {
		t.Fatalf("REQUIRETLS in the clear = %q, want 530 5.7.10", got)
	}
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got, "220") {
		t.Fatalf("STARTTLS = %q", got)
	}
	c.handshake()
	if ehlo := c.cmd("EHLO client.example.org"); !strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("REQUIRETLS not offered over TLS:\n%s", ehlo)
	}
	for _, l := range []string{
		"MAIL FROM:<s@example.org> RET=HDRS ENVID=QQ+2B314 REQUIRETLS",
		"RCPT TO:<alice@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+40Example.TEST",
		"RCPT TO:<bob@example.test>",
	} {
		if got := c.cmd(l); !strings.HasPrefix(got, "250") {
			t.Fatalf("%s = %q", l, got)
		}
	}
	if got := c.data("Subject: x\r\n\r\nbody"); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA = %q", got)
	}
	ts.spool.mu.Lock()
	m := ts.spool.got[0]
	ts.spool.mu.Unlock()
	if m.Ret != "HDRS" || m.EnvID != "QQ+314" || !m.RequireTLS || !m.opt.TLS || m.Proto != "ESMTPS" {
		t.Fatalf("MAIL parameters: ret %q envid %q requiretls %v", m.Ret, m.EnvID, m.RequireTLS)
	}
	p, ok := m.RcptDSN["alice@example.test"]
	if !ok || strings.Join(p.Notify, ",") != "SUCCESS,DELAY" || p.ORCPTType != "rfc822" || p.ORCPT != "Alice@Example.TEST" {
		t.Fatalf("RCPT parameters %+v", m.RcptDSN)
	}
	if _, ok := m.RcptDSN["bob@example.test"]; ok {
		t.Fatalf("bob gave no parameters: %+v", m.RcptDSN)
	}
}
