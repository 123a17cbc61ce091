// Package maildir delivers messages into Maildir++ directories the way
// Dovecot and Courier-IMAP expect to read them.
//
// Delivery (maildir(5), cr.yp.to/proto/maildir.html):
//
//  1. Tmp: create tmp/<unique> with O_CREAT|O_EXCL (never reuse a name),
//     write the message through a counter that yields the exact size
//     (",S=") and the size with CRLF line endings (",W=", Dovecot's
//     RFC822.SIZE), fsync the file.
//  2. Publish: link(2) the file into new/<unique>,S=<size>,W=<vsize> (or
//     cur/<unique>,S=..:2,<flags> when flags are set). link never replaces an
//     existing name. The same tmp file may be published into several Maildirs
//     (hard links; a copy across filesystems), which is how one written file
//     serves every recipient and every Sieve fileinto.
//  3. fsync new/ (or cur/) so that the link is durable before anyone says 250.
//  4. Remove the tmp file. Any failure removes it too: nothing is ever
//     half-delivered.
//
// Folders are Maildir++ (".Folder.Sub" under the top Maildir, each a full
// Maildir plus an empty "maildirfolder" file), names in IMAP modified UTF-7
// as Dovecot stores them. There is no mbox fallback.
//
// Errors from this package are plain Go errors (*os.PathError, *MissingError,
// *QuotaError); internal/deliver turns them into diag errors.
package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Subdirs are the three directories every Maildir has.
var Subdirs = []string{"tmp", "new", "cur"}

// MissingError says which of tmp/, new/, cur/ a Maildir lacks.
type MissingError struct {
	Dir     string   // the Maildir
	Missing []string // e.g. ["tmp"]; all three when the Maildir itself is missing
	Present []string
}

func (e *MissingError) Error() string {
	if len(e.Present) == 0 {
		return "no Maildir here (tmp/, new/ and cur/ are missing)"
	}
	return fmt.Sprintf("the Maildir lacks %s/ (%s/ present)", strings.Join(e.Missing, "/, "), strings.Join(e.Present, "/, "))
}

func (e *MissingError) Unwrap() error { return os.ErrNotExist }

// Check reports whether dir is a complete Maildir. It returns a
// *MissingError naming the missing subdirectories, or the stat error (for
// example ENOTDIR when a regular file sits where a directory should be).
func Check(dir string) error {
	var missing, present []string
	for _, s := range Subdirs {
		p := filepath.Join(dir, s)
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			present = append(present, s)
		case err == nil:
			return &os.PathError{Op: "stat", Path: p, Err: syscall.ENOTDIR}
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, s)
		default:
			return err
		}
	}
	if len(missing) > 0 {
		return &MissingError{Dir: dir, Missing: missing, Present: present}
	}
	return nil
}

// Ensure makes dir a complete Maildir when create is true (parents and
// subdirectories mode 0700, as Dovecot creates them); otherwise it only
// checks it. A folder (folder true) also gets its "maildirfolder" file.
func Ensure(dir string, create, folder bool) error {
	err := Check(dir)
	if err == nil || !create {
		return err
	}
	var me *MissingError
	if !errors.As(err, &me) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, s := range me.Missing {
		if err := os.Mkdir(filepath.Join(dir, s), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if folder {
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	// The new directories must survive a crash before a message is linked
	// into them.
	if err := safeio.SyncDir(dir); err != nil {
		return err
	}
	return safeio.SyncDir(filepath.Dir(dir))
}

// Tmp is a message being written into a Maildir's tmp/. It counts what is
// written: Size is the exact file size, VSize the size with every bare LF
// counted as CRLF (RFC822.SIZE as Dovecot computes it).
type Tmp struct {
	Base string // the unique base name
	Path string // dir/tmp/Base
	f    *os.File

	size, vsize int64
	lastCR      bool
	done        bool
}

// CreateTmp creates tmp/<unique> in the Maildir dir with O_EXCL, mode 0600.
func CreateTmp(dir string, n *Namer) (*Tmp, error) {
	var lastErr error
	// A clash means another process made the same name; a new name (the
	// counter moved) is the cure. Three tries are plenty.
	for i := 0; i < 3; i++ {
		base := n.Next()
		p := filepath.Join(dir, "tmp", base)
		f, err := safeio.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return &Tmp{Base: base, Path: p, f: f}, nil
		}
		lastErr = err
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	return nil, lastErr
}

// Write writes p to the file and counts it.
func (t *Tmp) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.count(p[:n])
	if err != nil {
		return n, &os.PathError{Op: "write", Path: t.Path, Err: diag.UnwrapPath(err)}
	}
	return n, nil
}

// ReadFrom copies r into the file (io.Copy uses it), counting as it goes.
// It writes whole buffers: a reader that returns a line at a time (the
// header filter gives each field in a Read of its own) would otherwise
// cost a write system call per header line.
func (t *Tmp) ReadFrom(r io.Reader) (int64, error) {
	bp := bufpool.Bytes()
	defer bufpool.PutBytes(bp)
	buf := *bp
	var total int64
	fill := 0
	for {
		n, rerr := r.Read(buf[fill:])
		fill += n
		if fill > 0 && (fill == len(buf) || rerr != nil) {
			w, werr := t.Write(buf[:fill])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
			fill = 0
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, &ReadError{Err: rerr}
		}
	}
}

// ReadError is a failure to read the message being written (stdin, spool),
// as opposed to a failure to write the Maildir.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "read the message: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// count adds p to Size and VSize: every LF not preceded by CR (in p, or
// at p's start by the CR that ended the write before) counts twice in
// VSize. bytes.Count runs on the whole buffer (a delivery's copy holds LF
// line ends only, so it usually finds no CR at all) instead of a loop
// over every byte, which was 3 % of ebb's CPU at 64 KiB (bench/serve).
func (t *Tmp) count(p []byte) {
	if len(p) == 0 {
		return
	}
	t.size += int64(len(p))
	t.vsize += int64(len(p))
	bare := int64(bytes.Count(p, lf))
	if bytes.IndexByte(p, '\r') >= 0 {
		bare -= int64(bytes.Count(p, crlf))
	}
	if t.lastCR && p[0] == '\n' {
		bare--
	}
	t.vsize += bare
	t.lastCR = p[len(p)-1] == '\r'
}

var lf, crlf = []byte("\n"), []byte("\r\n")

// Size is the number of bytes written so far.
func (t *Tmp) Size() int64 { return t.size }

// VSize is Size with every LF not preceded by CR counted twice.
func (t *Tmp) VSize() int64 { return t.vsize }

// Finish fsyncs and closes the file. After Finish the file may be published.
func (t *Tmp) Finish() error {
	if err := t.f.Sync(); err != nil {
		t.f.Close()
		return &os.PathError{Op: "fsync", Path: t.Path, Err: diag.UnwrapPath(err)}
	}
	if err := t.f.Close(); err != nil {
		return &os.PathError{Op: "close", Path: t.Path, Err: diag.UnwrapPath(err)}
	}
	return nil
}

// FinishWith is Finish through n's Flusher when it has one: the file is
// closed and the shared flush writes it (one flush for every delivery and
// receive waiting then) instead of an fsync of its own. Without a Flusher
// for this Maildir's tmp/ (Namer.flusherFor) it is Finish.
func (t *Tmp) FinishWith(n *Namer) error {
	f := n.flusherFor(filepath.Dir(t.Path))
	if f == nil {
		return t.Finish()
	}
	if err := t.f.Close(); err != nil {
		return &os.PathError{Op: "close", Path: t.Path, Err: diag.UnwrapPath(err)}
	}
	if err := f.Sync(filepath.Dir(t.Path)); err != nil {
		return &os.PathError{Op: "fsync", Path: t.Path, Err: diag.UnwrapPath(err)}
	}
	return nil
}

// Remove closes (if still open) and removes the tmp file. It is safe to call
// more than once and after publishing.
func (t *Tmp) Remove() {
	if t.done {
		return
	}
	t.done = true
	t.f.Close()
	os.Remove(t.Path)
}

// FinalName is the name a message gets in new/ or cur/: the base name, the
// exact size and the CRLF size (Dovecot reads both; both must be exact), and
// ":2,<flags>" when flags are set. flags must already be Maildir letters.
func FinalName(base string, size, vsize int64, flags string) string {
	name := fmt.Sprintf("%s,S=%d,W=%d", base, size, vsize)
	if flags != "" {
		name += ":2," + flags
	}
	return name
}

// Publish links the finished tmp file src (size and vsize as counted) into
// the Maildir dir: new/ without flags, cur/ with ":2,<flags>". It never
// replaces an existing file. Across filesystems (EXDEV) it copies src into
// dir/tmp first. It fsyncs the target directory and returns the final path.
// namer gives a fresh base name when base is "" (a second copy).
func Publish(src, dir, base string, size, vsize int64, flags string, n *Namer) (string, error) {
	sub := "new"
	if flags != "" {
		sub = "cur"
	}
	for try := 0; ; try++ {
		if base == "" {
			base = n.Next()
		}
		dst := filepath.Join(dir, sub, FinalName(base, size, vsize, flags))
		err := os.Link(src, dst)
		if errors.Is(err, syscall.EXDEV) {
			return copyPublish(src, dir, sub, size, vsize, flags, n)
		}
		if errors.Is(err, os.ErrExist) && try < 3 {
			base = "" // never overwrite: take another name
			continue
		}
		if err != nil {
			return "", err
		}
		// Concurrent deliveries into this directory share the fsync
		// (group commit); none returns before one that began after its
		// link.
		if err := n.syncDir(filepath.Join(dir, sub)); err != nil {
			os.Remove(dst)
			return "", err
		}
		return dst, nil
	}
}

// copyPublish copies src into dir/tmp and publishes that copy: the second
// filesystem gets its own file, written and fsynced like the first.
func copyPublish(src, dir, sub string, size, vsize int64, flags string, n *Namer) (string, error) {
	in, err := safeio.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	t, err := CreateTmp(dir, n)
	if err != nil {
		return "", err
	}
	defer t.Remove()
	if _, err := io.Copy(t, in); err != nil {
		return "", err
	}
	if err := t.Finish(); err != nil {
		return "", err
	}
	if t.Size() != size {
		return "", fmt.Errorf("copy of %s into %s: %d bytes, want %d", src, t.Path, t.Size(), size)
	}
	return Publish(t.Path, dir, t.Base, size, vsize, flags, n)
}

// imapFlags maps IMAP system flags to Maildir info letters (maildir(5);
// Dovecot: D draft, F flagged, P passed, R answered, S seen, T deleted).
var imapFlags = map[string]byte{
	`\draft`: 'D', `\flagged`: 'F', `$forwarded`: 'P', `\answered`: 'R', `\seen`: 'S', `\deleted`: 'T',
}

// FlagLetters turns IMAP flags into the Maildir info letters in ASCII order,
// as the spec requires. Keywords other than $Forwarded are returned in
// ignored: they need Dovecot's dovecot-keywords file, which an MDA must not
// edit.
func FlagLetters(flags []string) (letters string, ignored []string) {
	set := map[byte]bool{}
	for _, f := range flags {
		if c, ok := imapFlags[strings.ToLower(f)]; ok {
			set[c] = true
		} else if f != "" {
			ignored = append(ignored, f)
		}
	}
	var b []byte
	for c := range set {
		b = append(b, c)
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b), ignored
}
