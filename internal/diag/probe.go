package diag

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Self returns the identity of this process.
func Self() *Identity {
	id := &Identity{UID: os.Geteuid(), GID: os.Getegid()}
	id.User = UserName(id.UID)
	id.Group = GroupName(id.GID)
	return id
}

// UserName returns the name for uid, or "" when there is none.
func UserName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return ""
}

// GroupName returns the name for gid, or "" when there is none.
func GroupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return ""
}

// groupID is the gid of the named group, or -1.
func groupID(name string) int {
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1
	}
	gid, _ := strconv.Atoi(g.Gid)
	return gid
}

// Describe reports what is at path. When path does not exist it reports the
// nearest existing parent instead (that is the directory that refused), with
// Kind "missing" only when nothing up to the root exists.
func Describe(path string) *Found {
	p := filepath.Clean(path)
	for {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err == nil {
			return describeStat(p, &st)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return &Found{Path: path, Kind: "missing"}
		}
		p = parent
	}
}

func describeStat(p string, st *syscall.Stat_t) *Found {
	f := &Found{
		Path: p,
		UID:  int(st.Uid),
		GID:  int(st.Gid),
		Mode: st.Mode & 07777,
	}
	f.Owner = UserName(f.UID)
	f.Group = GroupName(f.GID)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		f.Kind = "directory"
	case syscall.S_IFREG:
		f.Kind = "file"
	case syscall.S_IFLNK:
		f.Kind = "symlink"
	default:
		f.Kind = "special file"
	}
	return f
}

// ReadableBy reports whether who (a uid and its primary group, as ebb
// serve runs) may read what f describes by its mode bits alone (the
// directories above it and ACLs are not looked at).
func (f *Found) ReadableBy(who *Identity) bool {
	switch {
	case who == nil || who.UID == 0:
		return true
	case f.UID == who.UID:
		return f.Mode&0o400 != 0
	case f.GID == who.GID:
		return f.Mode&0o040 != 0
	}
	return f.Mode&0o004 != 0
}

// AddFree records free space and inodes of the filesystem holding f.Path.
func (f *Found) AddFree() {
	var s syscall.Statfs_t
	if err := syscall.Statfs(f.Path, &s); err == nil {
		f.HasFree = true
		f.FreeBytes = s.Bavail * uint64(s.Bsize)
		f.FreeInodes = s.Ffree
	}
}

// UnwrapPath is the OS error (an errno, mostly) inside err's *fs.PathError,
// or err itself when it holds none. A diag error carries the path in its
// own field, so its cause should not name the path again; a component that
// wraps a write or fsync error in a path of its choosing does the same.
func UnwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// PathError builds the boundary error for a failed filesystem operation on
// path: it records who we are, what is at the path (or its nearest existing
// parent), the setting that chose it, the class, and a concrete fix.
//
// doing is the phrase after "cannot", e.g. "create a file in".
func PathError(component, op, doing, path string, err error, setting *Setting) *Error {
	return PathErrorAs(component, op, doing, path, err, setting, Self())
}

// PathErrorAs is PathError for an operation that who would meet, not this
// process (ebb route, run as root, predicting what server.user meets): the
// sentence and the fix are chosen for who.
func PathErrorAs(component, op, doing, path string, err error, setting *Setting, who *Identity) *Error {
	if noSpace(err) {
		// A full filesystem is told by a directory: the file that could
		// not be written is gone by the time anyone reads this, and a
		// per-message name would split mailq's groups.
		if st, serr := os.Lstat(path); serr != nil || !st.IsDir() {
			path = filepath.Dir(path)
			if !strings.HasSuffix(doing, " in") {
				doing += " a file in"
			}
		}
	}
	e := New(op, doing, path, err)
	e.Component = component
	e.Who = who
	e.Setting = setting
	e.Found = Describe(path)
	e.Class = Temporary
	e.SetFix(fixFor(e, path))
	return e
}

// noSpace reports whether err is ENOSPC or EDQUOT.
func noSpace(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && (errno == syscall.ENOSPC || errno == syscall.EDQUOT)
}

// fixFor proposes the fix for the common filesystem errors; every fix is
// safe to follow (hint.go, fix.go).
func fixFor(e *Error, path string) *Fix {
	var errno syscall.Errno
	errors.As(e.Err, &errno)
	f := e.Found
	doctor := DoctorHint(e.Component, e.Setting)
	switch {
	case errno == syscall.EACCES || errno == syscall.EPERM:
		return accessFix(e, path)
	case errno == syscall.ENOSPC || errno == syscall.EDQUOT:
		// The filesystem, by a directory that exists: a file that failed
		// to be written is gone by the time anyone reads this.
		dir := path
		if f != nil {
			f.AddFree()
			if f.Kind != "missing" {
				dir = f.Path
			}
		}
		return Because("the filesystem that holds "+dir+" is full",
			Command("df", "-h", dir), Command("df", "-i", dir), Say("free space or inodes there"))
	case errno == syscall.EROFS:
		return Steps(Say(fmt.Sprintf("remount the filesystem that holds %s read-write", path)))
	case errno == syscall.ENOENT || errors.Is(e.Err, fs.ErrNotExist):
		who := mailUser(e)
		if who == nil {
			who = e.Who
		}
		dirExpected := e.Op == "mkdir" || strings.HasSuffix(e.Doing, " in") || strings.Contains(e.Doing, "directory")
		if who == nil || !dirExpected || e.Setting == nil || e.Setting.Key == "" || strings.HasPrefix(e.Setting.Key, "-") {
			return Steps(Say("create " + path)).AndCheck(doctor)
		}
		return MakeDir(path, who, e.Setting).AndCheck(doctor)
	case errno == syscall.ENOTDIR || errno == syscall.EEXIST:
		if f != nil && f.Kind != "directory" {
			return Because(fmt.Sprintf("%s is a %s where a directory is expected", f.Path, f.Kind), Say("move it away"))
		}
	}
	return &Fix{Check: doctor}
}

// Parents are the directories above p, from "/" down to p's own parent:
// the ones a process must be allowed to pass through (search) to reach p.
func Parents(p string) []string {
	var out []string
	for d := filepath.Dir(filepath.Clean(p)); ; d = filepath.Dir(d) {
		out = append([]string{d}, out...)
		if d == "/" || d == "." {
			return out
		}
	}
}

// DeniedTo is what refuses who the access bits (4 read, 2 write, 1
// search) on path, as the kernel decides by the modes (ACLs are not
// read): a directory above it that who may not pass through, or path
// itself; nil when the modes allow it, or when path cannot be examined.
// who's groups are its primary group and those /etc/group gives it (as
// systemd's User= sets them). For root's tools (mailq, doctor) that must
// tell what the mail user will meet.
func DeniedTo(path string, who *Identity, bits uint32) *Found {
	if who == nil || who.UID == 0 {
		return nil
	}
	groups := map[int]bool{who.GID: true}
	if who.User != "" {
		if u, err := user.Lookup(who.User); err == nil {
			ids, _ := u.GroupIds()
			for _, id := range ids {
				if n, err := strconv.Atoi(id); err == nil {
					groups[n] = true
				}
			}
		}
	}
	allowed := func(st *syscall.Stat_t, bits uint32) bool {
		m := st.Mode & 0o777
		switch {
		case int(st.Uid) == who.UID:
			return m&(bits<<6) == bits<<6
		case groups[int(st.Gid)]:
			return m&(bits<<3) == bits<<3
		}
		return m&bits == bits
	}
	p := filepath.Clean(path)
	for _, d := range Parents(p) {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil {
			return nil
		}
		if !allowed(&st, 0o1) {
			return Describe(d)
		}
	}
	var st syscall.Stat_t
	if syscall.Stat(p, &st) != nil {
		return nil
	}
	if !allowed(&st, bits) {
		return Describe(p)
	}
	return nil
}

// Refix gives e the fix of its facts again, after a caller set Found to
// what really refused (DeniedTo): the fix then names that path.
func (e *Error) Refix() *Error { return e.SetFix(fixFor(e, e.Path)) }
