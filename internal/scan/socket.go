package scan

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
)

// A scanner's Unix socket that the mail user may not connect to (clamd's
// LocalSocketMode 660 with its own group, a socket directory closed to
// others) is no scanner that is down: the scanner runs, and only ebb is
// refused. SocketDenied tells it from the socket's owner, group and mode
// and the user's groups, as the kernel would decide connect(2) (write on
// the socket, search on every directory above it; ACLs are not read), so
// that ebb doctor, run as root, sees what ebb serve will meet.

// SocketDenied returns what refuses who a connection to the Unix socket
// at addr (the socket or a directory above it), nil when who may connect,
// addr is not a path, or it cannot be examined (the dial says why).
func SocketDenied(addr string, who *diag.Identity) *diag.Found {
	if !strings.HasPrefix(addr, "/") {
		return nil
	}
	var st syscall.Stat_t
	if syscall.Stat(addr, &st) == nil && st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return nil
	}
	return diag.DeniedTo(addr, who, 0o2)
}

// SocketFix is the fix for who refused by f (SocketDenied) at the socket
// addr of the scanner name, configured by key (scan.clamd): when the
// socket is open to its group and that group is the scanner's own (owner
// and group of one name, never root's), who joins it; else the scanner
// must make its socket reachable. Nothing is chmodded: the socket and its
// directory are the scanner's, recreated at each of its starts.
func SocketFix(f *diag.Found, addr, name, key string, who *diag.Identity, restart *diag.Setting) *diag.Fix {
	user := who.User
	if user == "" {
		user = "uid " + strconv.Itoa(who.UID)
	}
	their := fmt.Sprintf("have %s create its socket so that %s may connect", name, user)
	if name == "clamd" {
		their += " (LocalSocketMode 666 in clamd.conf, Debian's default; then restart clamd)"
	}
	their += ", or set " + key + ".address to its TCP address"
	if f.Path == filepath.Clean(addr) && f.Mode&0o020 != 0 && f.GID != 0 && f.Group != "" && f.Group == f.Owner && who.User != "" {
		return diag.Because(fmt.Sprintf("%s runs, but its socket %s is %s:%s %s and %s is not in group %s", name, addr, f.Owner, f.Group, f.ModeString(), user, f.Group),
			diag.Command("adduser", who.User, f.Group), diag.Restart(restart)).
			OrElse(diag.Steps(diag.Say(their)))
	}
	return diag.Because(fmt.Sprintf("%s runs, but %s is %s:%s %s, which does not let %s reach its socket %s", name, f.Path, f.Owner, f.Group, f.ModeString(), user, addr),
		diag.Say(their))
}
