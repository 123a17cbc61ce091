package scan

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// A scanner's socket the mail user may not connect to is found from its
// mode and owner (ebb doctor runs as root, who may connect), and its fix
// joins the scanner's own group, never root's, and chmods nothing.
func TestSocketDeniedAndItsFix(t *testing.T) {
	td := t.TempDir()
	// Go's temp dirs are 0700: open them, as /run is.
	os.Chmod(filepath.Dir(td), 0o755)
	os.Chmod(td, 0o755)
	dir := filepath.Join(td, "clamav")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "clamd.ctl")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Someone who owns nothing here and is in none of its groups.
	who := &diag.Identity{UID: 54321, GID: 54321}

	os.Chmod(sock, 0o666)
	if f := SocketDenied(sock, who); f != nil {
		t.Errorf("a socket of mode 0666 refuses %v: %+v", who, f)
	}
	os.Chmod(sock, 0o660)
	if f := SocketDenied(sock, who); f == nil || f.Path != sock {
		t.Errorf("a socket of mode 0660 of another group: %+v, want the socket", f)
	}
	os.Chmod(sock, 0o666)
	os.Chmod(dir, 0o700)
	if f := SocketDenied(sock, who); f == nil || f.Path != dir {
		t.Errorf("a socket in a directory of mode 0700: %+v, want the directory", f)
	}
	if f := SocketDenied("127.0.0.1:3310", who); f != nil {
		t.Errorf("a TCP address: %+v", f)
	}
	if f := SocketDenied(sock, &diag.Identity{UID: 0}); f != nil {
		t.Errorf("root: %+v", f)
	}

	vmail := &diag.Identity{UID: 114, User: "vmail", GID: 117, Group: "vmail"}
	own := &diag.Found{Path: sock, Kind: "socket", Owner: "clamav", Group: "clamav", UID: 110, GID: 120, Mode: 0o660}
	fix := SocketFix(own, sock, "clamd", "scan.clamd", vmail, nil).String()
	if !strings.HasPrefix(fix, "clamd runs, but its socket "+sock+" is clamav:clamav 0660 and vmail is not in group clamav: run: adduser vmail clamav; then restart ebb serve") ||
		!strings.Contains(fix, "or instead: have clamd create its socket so that vmail may connect (LocalSocketMode 666") || strings.Contains(fix, "chmod") {
		t.Errorf("the fix for clamd's own group: %s", fix)
	}
	rootGroup := *own
	rootGroup.Group, rootGroup.GID = "root", 0
	if fix := SocketFix(&rootGroup, sock, "clamd", "scan.clamd", vmail, nil).String(); strings.Contains(fix, "adduser") || strings.Contains(fix, "chmod") {
		t.Errorf("a socket of group root: %s", fix)
	}
	closed := &diag.Found{Path: dir, Kind: "directory", Owner: "clamav", Group: "clamav", UID: 110, GID: 120, Mode: 0o700}
	if fix := SocketFix(closed, sock, "clamd", "scan.clamd", vmail, nil).String(); strings.Contains(fix, "adduser") || !strings.Contains(fix, dir+" is clamav:clamav 0700") {
		t.Errorf("a closed socket directory: %s", fix)
	}
}
