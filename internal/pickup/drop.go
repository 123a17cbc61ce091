package pickup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// File name prefixes in the pickup directory.
const (
	TmpPrefix   = "t." // being written, or offered to the daemon
	ReadyPrefix = "m." // durable, for the daemon to pick up
	socketName  = "submit.sock"
)

// SocketPath is the socket of a pickup directory when sendmail.socket is empty.
func SocketPath(dir, socket string) string {
	if socket != "" {
		return socket
	}
	return filepath.Join(dir, socketName)
}

// Drop is sendmail's side: it writes a message into the pickup directory
// and hands it to the daemon, or leaves it there durably.
type Drop struct {
	Dir        string
	Socket     string
	DirSetting *diag.Setting
	// Timeout bounds the wait for the daemon's answer (sendmail.timeout).
	Timeout time.Duration

	// cfg makes DirSetting when a failure needs it (DropFor): a setting's
	// provenance costs a walk of the defaults, which a delivery agent's
	// Sieve outbox that sends nothing should not pay (bench/deliver).
	cfg *config.Config
}

// Result is how a message was handed over.
type Result struct {
	// QueueID is set when the daemon queued the message.
	QueueID string
	// File is set when the message was left in the pickup directory.
	File string
	// Why is the reason the daemon did not take it at once.
	Why error
}

// Queue submits a message from sender ("" is <>) to rcpts, streamed from
// data, and returns the daemon's queue id, or "pickup:FILE" when the
// daemon was not there to take it (it takes the file when it starts): the
// one way ebb's own mail (Sieve redirects and vacation replies of ebb
// deliver, reports sent by a command) goes through the pickup.
func (d *Drop) Queue(ctx context.Context, sender string, rcpts []string, data io.Reader) (string, error) {
	res, err := d.Submit(ctx, &Envelope{From: sender, Recipients: rcpts, Created: time.Now().UTC()}, func(w io.Writer) error {
		_, err := io.Copy(w, data)
		return err
	})
	if err != nil {
		return "", err
	}
	if res.QueueID != "" {
		return res.QueueID, nil
	}
	return "pickup:" + res.File, nil
}

// Reply is the daemon's one-line JSON answer on the socket.
type Reply struct {
	OK       bool   `json:"ok"`
	ID       string `json:"id,omitempty"`
	Class    string `json:"class,omitempty"`
	Sentence string `json:"sentence,omitempty"`
	Exit     int    `json:"exit,omitempty"`
}

func (d *Drop) fail(op, doing, path string, err error) *diag.Error {
	setting := d.DirSetting
	if setting == nil && d.cfg != nil {
		setting = d.cfg.PickupDirSetting()
	}
	e := diag.PathError("ebb sendmail", op, doing, path, err, setting)
	switch {
	case errors.Is(err, os.ErrNotExist) && path == d.Dir:
		e.SetFix(diag.Because(fmt.Sprintf("ebb serve creates %s (owned by server.user, mode 3733)", d.Dir), diag.Start(setting)).
			AndCheck(diag.DoctorHint(e.Component, setting)))
	case errors.Is(err, os.ErrPermission) && path == d.Dir && setting != nil && ClosedParent(d.Dir) != nil:
		// The directory may be right: a parent keeps users out.
		e.Found = ClosedParent(d.Dir)
		e.SetFix(ParentFix(e.Found, d.Dir, setting.MailUser(), setting).AndCheck(diag.DoctorHint(e.Component, setting)))
	case errors.Is(err, os.ErrPermission) && path == d.Dir:
		// Not "chown it to yourself": the directory is the daemon's, and
		// every user must be able to drop mail there.
		e.SetFix(diag.Because(fmt.Sprintf("%s must be owned by server.user with mode 3733, which ebb serve sets when it starts", d.Dir), diag.Restart(setting)).
			AndCheck(diag.DoctorHint(e.Component, setting)))
	}
	return e
}

// Submit writes env and the message (written by writeMsg) into the pickup
// directory, then offers it to the daemon. It returns only once the message
// is durable: queued by the daemon, or fsynced in the pickup directory.
// A *diag.Error says why it is neither (exit 75).
func (d *Drop) Submit(ctx context.Context, env *Envelope, writeMsg func(w io.Writer) error) (*Result, error) {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	name := hex.EncodeToString(rnd[:])
	tmp := filepath.Join(d.Dir, TmpPrefix+name)
	// O_RDWR: the daemon reads through the very file description it gets.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, d.fail("create", "create a file in", d.Dir, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Group-readable for the daemon's group, which the file inherits from
	// the setgid directory; nobody else may read it. (fchmod, because the
	// umask would cut what open asked for.)
	if err := f.Chmod(0o640); err != nil {
		return nil, d.fail("chmod", "set the mode of", tmp, err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	if err := WriteEnvelope(w, env); err != nil {
		return nil, d.fail("write", "write", tmp, err)
	}
	if err := writeMsg(w); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return nil, d.fail("write", "write", tmp, err)
		}
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, d.fail("write", "write", tmp, err)
	}
	res := &Result{}
	id, err := d.offer(ctx, f)
	if err == nil {
		done = true
		f.Close()
		// The daemon has it durably; our copy is no longer needed. If the
		// removal fails the daemon deletes stale t. files after a day.
		os.Remove(tmp)
		res.QueueID = id
		return res, nil
	}
	var refused *Refusal
	if errors.As(err, &refused) {
		// The daemon read it and says no for good (a bad message): leaving
		// it for the pickup would only fail again.
		return nil, refused
	}
	res.Why = err
	// Leave it for the daemon: durable file, durable name.
	if err := f.Sync(); err != nil {
		return nil, d.fail("fsync", "write", tmp, err)
	}
	ready := filepath.Join(d.Dir, ReadyPrefix+name)
	if err := os.Rename(tmp, ready); err != nil {
		return nil, d.fail("rename", "rename a file in", d.Dir, err)
	}
	// The directory is not readable for us (mode 3733), so it cannot be
	// opened to fsync it; syncfs(2) makes the rename durable instead.
	if err := syncDirOrFS(d.Dir, f); err != nil {
		os.Rename(ready, tmp)
		return nil, d.fail("fsync", "make a file durable in", d.Dir, err)
	}
	done = true
	f.Close()
	res.File = ready
	return res, nil
}

// syncDirOrFS fsyncs dir when we may open it, else syncs the filesystem
// that holds f.
func syncDirOrFS(dir string, f *os.File) error {
	if dh, err := os.Open(dir); err == nil {
		err = dh.Sync()
		dh.Close()
		return err
	}
	return unix.Syncfs(int(f.Fd()))
}

// Refusal is the daemon's permanent no for a message.
type Refusal struct{ Reply Reply }

func (r *Refusal) Error() string { return r.Reply.Sentence }

// ExitCode is the daemon's exit code for the refusal, else
// EX_UNAVAILABLE.
func (r *Refusal) ExitCode() int {
	if r.Reply.Exit != 0 {
		return r.Reply.Exit
	}
	return diag.ExUnavailable
}

// offer hands the open file to the daemon and waits for its answer.
func (d *Drop) offer(ctx context.Context, f *os.File) (string, error) {
	sock := SocketPath(d.Dir, d.Socket)
	c, err := Dial(ctx, d.Dir, sock, d.Timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	rights := unix.UnixRights(int(f.Fd()))
	if _, _, err := c.WriteMsgUnix([]byte("SUBMIT\n"), rights, nil); err != nil {
		return "", fmt.Errorf("send to %s: %w", sock, err)
	}
	rep, err := readReply(c)
	if err != nil {
		return "", fmt.Errorf("answer from %s: %w", sock, err)
	}
	if rep.OK {
		return rep.ID, nil
	}
	if rep.Class == string(diag.Permanent) {
		return "", &Refusal{Reply: *rep}
	}
	return "", fmt.Errorf("the daemon did not take it: %s", rep.Sentence)
}

func readReply(c net.Conn) (*Reply, error) {
	line, err := bufio.NewReaderSize(c, 4096).ReadString('\n')
	if err != nil {
		return nil, err
	}
	rep := &Reply{}
	if err := json.Unmarshal([]byte(line), rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// Dial connects to the daemon's socket and checks that the process
// listening there is the daemon: root or the owner of the pickup directory
// (SO_PEERCRED). Anyone may create files in the pickup directory, so a
// socket found there is not trusted by its name alone.
func Dial(ctx context.Context, dir, sock string, timeout time.Duration) (*net.UnixConn, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	dl := net.Dialer{Timeout: 5 * time.Second}
	nc, err := dl.DialContext(ctx, "unix", sock)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return nil, fmt.Errorf("the daemon is not running (%w)", errno)
		}
		return nil, fmt.Errorf("the daemon is not running (%w)", err)
	}
	c := nc.(*net.UnixConn)
	uid, _, err := PeerCred(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("peer credentials on %s: %w", sock, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		c.Close()
		return nil, fmt.Errorf("stat %s: %w", dir, err)
	}
	if uid != 0 && uint32(uid) != st.Uid {
		c.Close()
		return nil, fmt.Errorf("%s is served by uid %d, not by the owner of %s (uid %d): not the ebb daemon", sock, uid, dir, st.Uid)
	}
	c.SetDeadline(time.Now().Add(timeout))
	return c, nil
}

// Mailq asks the daemon for the queue listing and copies it to w. Its
// errors do not name the socket: the caller's sentence does.
func Mailq(ctx context.Context, dir, sock string, w io.Writer, timeout time.Duration) error {
	c, err := Dial(ctx, dir, SocketPath(dir, sock), timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("MAILQ\n")); err != nil {
		return withoutAddr("asking it", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return withoutAddr("reading its answer", err)
	}
	rep := &Reply{}
	if err := json.Unmarshal([]byte(line), rep); err != nil {
		return err
	}
	if !rep.OK {
		return errors.New(rep.Sentence)
	}
	_, err = io.Copy(w, br)
	return withoutAddr("reading its answer", err)
}

// Command sends a one-line command (FLUSH) to the daemon and returns its
// reply. Its errors do not name the socket: the caller's sentence does.
func Command(ctx context.Context, dir, sock, cmd string, timeout time.Duration) (*Reply, error) {
	c, err := Dial(ctx, dir, SocketPath(dir, sock), timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return nil, withoutAddr("asking it", err)
	}
	rep, err := readReply(c)
	return rep, withoutAddr("reading its answer", err)
}

// withoutAddr is a socket I/O error as "op: cause" without the
// *net.OpError's "read unix @->/path/submit.sock" (the path is said once,
// by the sentence around it). The cause stays wrapped (errors.Is
// os.ErrDeadlineExceeded holds). nil stays nil.
func withoutAddr(op string, err error) error {
	var oe *net.OpError
	if err == nil || !errors.As(err, &oe) {
		return err
	}
	return fmt.Errorf("%s: %w", op, oe.Err)
}

// DropFor is the Drop into cfg's pickup directory (sendmail.pickup_dir,
// sendmail.socket, sendmail.timeout): ebb sendmail's, and ebb deliver's
// for Sieve redirects and vacation responses.
func DropFor(cfg *config.Config) *Drop {
	return &Drop{Dir: cfg.PickupDir(), Socket: cfg.Sendmail.Socket, cfg: cfg, Timeout: cfg.Sendmail.Timeout.Duration}
}

// Flush asks the running daemon to retry its queue now (sendmail -q; id
// "" for every message). Without a daemon the error is a temporary
// *diag.Error naming the socket; a daemon that refuses gives a *Refusal
// (exit 75 unless it says otherwise).
func Flush(ctx context.Context, cfg *config.Config, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := Command(ctx, cfg.PickupDir(), cfg.Sendmail.Socket, "FLUSH "+id, 30*time.Second)
	if err != nil {
		d := diag.New("connect", "ask the daemon to flush the queue through", SocketPath(cfg.PickupDir(), cfg.Sendmail.Socket), err)
		d.Class, d.Setting = diag.Temporary, cfg.PickupDirSetting()
		d.Reason = err.Error()
		d.Hint = "start ebb serve (it retries the queue by itself as soon as it runs)"
		return d
	}
	if !rep.OK {
		if rep.Exit == 0 {
			rep.Exit = diag.ExTempFail
		}
		return &Refusal{Reply: *rep}
	}
	return nil
}
