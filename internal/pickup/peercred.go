package pickup

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// PeerCred returns the uid and pid of the process at the other end of a
// unix socket (SO_PEERCRED, unix(7)): the kernel's word, which the peer
// cannot forge.
func PeerCred(c *net.UnixConn) (uid, pid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if serr != nil {
		return -1, 0, serr
	}
	if cred == nil {
		return -1, 0, errors.New("no peer credentials")
	}
	return int(cred.Uid), int(cred.Pid), nil
}
