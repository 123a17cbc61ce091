package fetch

import (
	"context"
	"crypto/tls"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/servetest"
)

// tlsFake serves fakeIMAP over TLS with a certificate for the names
// given, signed by a CA of its own; caFile is that CA, for --ca-file.
func tlsFake(t *testing.T, names ...string) (port int, caFile string) {
	t.Helper()
	ca := servetest.NewCA(t)
	caFile = ca.File(t, t.TempDir())
	srv := newFakeIMAP(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, names...)}})
	if err != nil {
		t.Fatal(err)
	}
	servetest.Accept(t, ln, srv.session)
	return ln.Addr().(*net.TCPAddr).Port, caFile
}

// Issue 21: a certificate valid for localhost, used at 127.0.0.1, is a
// wrong name, not a wrong CA. The fix says so and names the command; run
// as written, the account logs in.
func TestACertificateForAnotherNameSaysTheName(t *testing.T) {
	port, caFile := tlsFake(t, "localhost")
	dir := testDirectory(t)
	a := fetchstate.FetchAccount{Name: "lab", Protocol: "imap", Host: "127.0.0.1", Port: port, TLS: "implicit", Verify: true, CAFile: caFile,
		Username: "alice", Password: "pw", Auth: "password", Mailbox: "alice@example.test", After: "keep", Enabled: true, Folders: []string{"INBOX"}}
	f := testFetcher(dir, newTestQueue(dir))
	err := f.Test(context.Background(), &a, &strings.Builder{})
	if err == nil {
		t.Fatal("a certificate for localhost verified at 127.0.0.1")
	}
	s := err.Error()
	if !strings.Contains(s, "not valid for the name 127.0.0.1") || !strings.Contains(s, "holds localhost, not 127.0.0.1") ||
		strings.Contains(s, "give the CA") {
		t.Fatalf("the error does not name the name: %s", s)
	}
	m := regexp.MustCompile(`run: ebb fetch set lab --server (\S+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no command in the fix: %s", s)
	}
	n, err := Change(a, Changes{Server: &m[1]})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Test(context.Background(), &n, &strings.Builder{}); err != nil {
		t.Fatalf("after following the fix: %v", err)
	}
	// A CA that did not sign the certificate is the CA's trouble.
	_, otherCA := tlsFake(t, "localhost")
	n.CAFile = otherCA
	if err := f.Test(context.Background(), &n, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "not by the CA in --ca-file "+otherCA) {
		t.Fatalf("a wrong CA: %v", err)
	}
}
