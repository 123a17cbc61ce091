package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RemoteDovecot is a Dovecot that plays the remote provider for fetch
// tests: IMAP, IMAPS, POP3 and POP3S on loopback with a self-signed
// certificate, users from a passwd-file and, when an introspection URL is
// given, Dovecot's oauth2 passdb for XOAUTH2/OAUTHBEARER. Mailboxes are
// Maildirs under Dir/mail/USER that the test fills directly.
type RemoteDovecot struct {
	Dir                      string
	Conf                     string
	IMAP, IMAPS, POP3, POP3S string // host:port
	// CACert is the PEM of the self-signed server certificate (for
	// localhost and 127.0.0.1), to give ebb as --ca-file.
	CACert   string
	MailUser User
	cmd      *exec.Cmd
	seq      atomic.Int64
}

// StartRemoteDovecot starts it for users (name → password). introspect,
// when not "", is the token introspection URL (RFC 7662) for the oauth2
// passdb.
func StartRemoteDovecot(t testing.TB, users map[string]string, introspect string) *RemoteDovecot {
	t.Helper()
	RequireRoot(t)
	Install(t, "dovecot-core", "dovecot-imapd", "dovecot-pop3d")
	d := &RemoteDovecot{Dir: Dir(t), MailUser: EnsureUser(t, "ebbremote")}
	for _, s := range []string{"run", "state", "mail", "ssl"} {
		os.MkdirAll(filepath.Join(d.Dir, s), 0o755)
	}
	d.CACert = filepath.Join(d.Dir, "ssl", "cert.pem")
	key := filepath.Join(d.Dir, "ssl", "key.pem")
	selfSigned(t, d.CACert, key)
	var pw strings.Builder
	for name, pass := range users {
		home := filepath.Join(d.Dir, "mail", name)
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o700)
		}
		chownTree(t, home, d.MailUser)
		fmt.Fprintf(&pw, "%s:{PLAIN}%s:%d:%d::%s::\n", name, pass, d.MailUser.UID, d.MailUser.GID, home)
	}
	usersFile := filepath.Join(d.Dir, "users")
	os.WriteFile(usersFile, []byte(pw.String()), 0o644)
	ports := [4]int{FreePort(t), FreePort(t), FreePort(t), FreePort(t)}
	d.IMAP, d.IMAPS = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	d.POP3, d.POP3S = fmt.Sprintf("127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[3])
	mechs, oauth := "plain login", ""
	if introspect != "" {
		mechs = "plain login xoauth2 oauthbearer"
		ext := filepath.Join(d.Dir, "oauth2.conf.ext")
		os.WriteFile(ext, []byte(fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`, introspect)), 0o644)
		oauth = fmt.Sprintf(`passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s
}
`, ext)
	}
	d.Conf = filepath.Join(d.Dir, "dovecot.conf")
	conf := DovecotHead(fmt.Sprintf("ebbremote-%d", ports[0]), d.Dir, "imap pop3") + fmt.Sprintf(`ssl = yes
ssl_cert = <%[1]s/ssl/cert.pem
ssl_key = <%[1]s/ssl/key.pem
auth_mechanisms = %[3]s
first_valid_uid = 1
mail_location = maildir:~/Maildir
pop3_uidl_format = %%08Xu%%08Xv
mail_max_userip_connections = 50
verbose_proctitle = yes
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %[2]s
}
%[4]suserdb {
  driver = passwd-file
  args = username_format=%%u %[2]s
}
`, d.Dir, usersFile, mechs, oauth) +
		DovecotService("imap-login", DovecotInet{Name: "imap", Port: ports[0]}, DovecotInet{Name: "imaps", Port: ports[1], TLS: true}) +
		DovecotService("pop3-login", DovecotInet{Name: "pop3", Port: ports[2]}, DovecotInet{Name: "pop3s", Port: ports[3], TLS: true})
	os.WriteFile(d.Conf, []byte(conf), 0o644)
	if out, err := exec.Command("doveconf", "-c", d.Conf, "-n").CombinedOutput(); err != nil {
		t.Fatalf("doveconf: %v\n%s", err, out)
	}
	d.Start(t)
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("remote dovecot.log (tail):\n%s", tailLines(d.Log(), 40))
		}
	})
	return d
}

func tailLines(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// Start starts (or restarts) Dovecot and waits for its IMAP greeting.
func (d *RemoteDovecot) Start(t testing.TB) {
	t.Helper()
	d.cmd = exec.Command("dovecot", "-c", d.Conf, "-F")
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	WaitTCP(t, d.IMAP, "* OK", 15*time.Second)
	WaitTCP(t, d.POP3, "+OK", 15*time.Second)
}

// Stop ends Dovecot and its children (SIGTERM, then SIGKILL), and returns
// once none of them runs any more. The master exits before its sessions
// do: a pop3 session ended without QUIT still sets \Seen on what it gave
// out (renames in cur/) as it goes, so a look at the Maildir right after
// the master's exit could miss files being renamed, and a restart could
// meet the session's locks.
func (d *RemoteDovecot) Stop() {
	if d.cmd == nil {
		return
	}
	stopDovecot(d.cmd)
	// Children (imap, pop3 sessions) go with the process group.
	pgid := d.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	d.cmd = nil
	for end := time.Now().Add(30 * time.Second); len(groupProcs(pgid)) > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupProcs lists the /proc/PID directories of the processes of process
// group pgid that still run (a zombie has ended).
func groupProcs(pgid int) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range procs {
		b, err := os.ReadFile(stat)
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 {
			continue
		}
		// pid (comm) state ppid pgrp ...
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			out = append(out, filepath.Dir(stat))
		}
	}
	return out
}

// Idling reports whether one of this Dovecot's IMAP sessions of user is in
// IDLE (verbose_proctitle: "imap [USER IP IDLE]"), so that a test can wait
// for a client to be waiting for a push.
func (d *RemoteDovecot) Idling(user string) bool {
	if d.cmd == nil {
		return false
	}
	// The sessions are in Dovecot's process group.
	for _, dir := range groupProcs(d.cmd.Process.Pid) {
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		if c := string(cmdline); strings.Contains(c, "imap ["+user+" ") && strings.Contains(c, " IDLE]") {
			return true
		}
	}
	return false
}

// Log is Dovecot's log so far.
func (d *RemoteDovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// Maildir is the user's Maildir; folder "" or "INBOX" is its top.
func (d *RemoteDovecot) Maildir(user, folder string) string {
	m := filepath.Join(d.Dir, "mail", user, "Maildir")
	if folder == "" || folder == "INBOX" {
		return m
	}
	return filepath.Join(m, "."+folder)
}

// Put writes messages into the user's folder (new/), as a delivering
// program would, owned by the mail user.
func (d *RemoteDovecot) Put(t testing.TB, user, folder string, msgs ...[]byte) {
	t.Helper()
	md := d.Maildir(user, folder)
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	if folder != "" && folder != "INBOX" {
		os.WriteFile(filepath.Join(md, "maildirfolder"), nil, 0o600)
	}
	for _, m := range msgs {
		n := d.seq.Add(1)
		name := fmt.Sprintf("%d.M%dP%d.remote,S=%d", time.Now().Unix(), n, os.Getpid(), len(m))
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, m, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, d.Maildir(user, ""), d.MailUser)
}

// Count is the number of messages in the user's folder (new/ and cur/).
func (d *RemoteDovecot) Count(user, folder string) int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(d.Maildir(user, folder), sub))
		n += len(ents)
	}
	return n
}

// ResetUIDValidity makes Dovecot give the folder a new UIDVALIDITY and
// new UIDs (as after a server migration): its uidlist and indexes go.
func (d *RemoteDovecot) ResetUIDValidity(t testing.TB, user, folder string, uidvalidity uint32) {
	t.Helper()
	md := d.Maildir(user, folder)
	ents, _ := os.ReadDir(md)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "dovecot") {
			os.Remove(filepath.Join(md, e.Name()))
		}
	}
	os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte(fmt.Sprintf("3 V%d N1\n", uidvalidity)), 0o600)
	chownTree(t, md, d.MailUser)
}

// TestMessage is a small message with a unique Message-ID.
func TestMessage(i int, subject string, bodyBytes int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Carol <carol@remote.example>\r\nTo: alice@remote.example\r\nSubject: %s %d\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <m%d.%s@remote.example>\r\n\r\n", subject, i, i, strings.ReplaceAll(subject, " ", "-"))
	line := strings.Repeat("x", 75) + "\r\n"
	for b.Len() < bodyBytes {
		b.WriteString(line)
	}
	return []byte(b.String())
}

func chownTree(t testing.TB, root string, u User) {
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, u.UID, u.GID)
		}
		return nil
	})
}

// selfSigned writes a self-signed ECDSA certificate for localhost and
// 127.0.0.1. Self-signed on purpose, not servetest.CA's: the fetch tests
// check what ebb says of a self-signed server (CN remote.test) before it
// is given the certificate as --ca-file (writeServerCert's have no IP
// address and cannot sign).
func selfSigned(t testing.TB, certPath, keyPath string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "remote.test", Organization: []string{"ebb test provider"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
