package safeio

import (
	"os"

	"golang.org/x/sys/unix"
)

// OpenFile is os.OpenFile for a regular file on the hot path (the spool
// file of every message): one open(2) and one fcntl(2). os.OpenFile also
// tries the file on the runtime's poller, which Linux refuses for a
// regular file, and sets and clears O_NONBLOCK around it: four fcntl(2)
// and a failed epoll_ctl(2) more per open (strace of ebb serve, issue 28).
// The file is blocking, as os.OpenFile's regular files end up; the error
// is an *os.PathError as os.OpenFile's.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// Open opens a regular file for reading, as OpenFile.
func Open(path string) (*os.File, error) { return OpenFile(path, os.O_RDONLY, 0) }

// OpenStat opens a regular file for reading, as Open, with what fstat(2)
// says of it (its size, its modification time): for a reader that takes
// the file whole. The caller closes the file; on an error there is none.
func OpenStat(path string) (*os.File, os.FileInfo, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}
