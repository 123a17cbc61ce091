// Package pickupd is the daemon's side of the sendmail pickup (package
// pickup has the format and the client, ebb sendmail's Drop): the socket,
// where a running daemon takes a submitted file at once, and the scan of
// the pickup directory, where it finds what sendmail left while it was
// down. Each message is handed to the queue through the one hand-off of
// every receiver (queue.Receiver), with the submitting uid (the kernel's
// word on the socket, the file's owner in the directory) in its Received
// line. ebb-deliver links package pickup, never this one (nor the queue).
package pickupd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
)

// Receiver is the daemon's side: the socket and the pickup directory scan.
type Receiver struct {
	Dir    string
	Socket string // "" is Dir/submit.sock
	// UID and GID own the directory and the socket (the daemon user); -1
	// keeps whoever creates them.
	UID, GID int
	// Queue takes each message (the daemon's hand-off, queue.Receiver);
	// Hostname names this host in its Received line.
	Queue    queue.Receiver
	Hostname string
	// Flush retries the queue (all when id is ""), for sendmail -q.
	Flush func(ctx context.Context, id string) error
	// Mailq writes the queue listing, for sendmail -bp run by users who
	// cannot read the spool (everyone may list it, as in Postfix).
	Mailq    func(ctx context.Context, w io.Writer) error
	Log      *slog.Logger
	Interval time.Duration
	// MaxSize refuses larger messages (smtp.max_message_size; 0: none).
	MaxSize int64

	ln   *net.UnixListener
	wg   sync.WaitGroup
	kick chan struct{}
	// scanning makes scans one at a time: two at once would both open a
	// ready file and queue it twice.
	scanning sync.Mutex
}

// Bind creates the pickup directory (mode 3733, see the package doc) and
// the socket (mode 0666). ebb serve calls it before dropping root
// privileges, so that the directory may live where only root can create it.
func (r *Receiver) Bind() error {
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return fmt.Errorf("create the pickup directory %s: %w", r.Dir, err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(r.Dir, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("%s is not a directory", r.Dir)
	}
	if r.UID >= 0 && (int(st.Uid) != r.UID || int(st.Gid) != r.GID) {
		if err := os.Lchown(r.Dir, r.UID, r.GID); err != nil {
			return fmt.Errorf("give the pickup directory %s to uid %d gid %d: %w", r.Dir, r.UID, r.GID, err)
		}
	}
	// chmod(2) cannot be given setgid/sticky through os.FileMode bits
	// portably; use the raw mode.
	if err := unix.Chmod(r.Dir, 0o3733); err != nil {
		return fmt.Errorf("set mode 3733 on the pickup directory %s: %w", r.Dir, err)
	}
	sock := pickup.SocketPath(r.Dir, r.Socket)
	// A stale socket (or anything a user put under that name while we
	// were down) goes: the directory is ours, sticky or not.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old socket %s: %w", sock, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(sock, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("chmod 0666 %s: %w", sock, err)
	}
	if r.UID >= 0 {
		if err := os.Lchown(sock, r.UID, r.GID); err != nil {
			ln.Close()
			return fmt.Errorf("chown %s: %w", sock, err)
		}
	}
	r.ln = ln
	r.kick = make(chan struct{}, 1)
	return nil
}

// Addr is the socket's path.
func (r *Receiver) Addr() string { return pickup.SocketPath(r.Dir, r.Socket) }

// Serve takes messages from the socket and the directory until ctx ends.
func (r *Receiver) Serve(ctx context.Context) error {
	if r.ln == nil {
		return errors.New("pickup: Serve before Bind")
	}
	interval := r.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			r.Scan(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-r.kick:
			}
		}
	}()
	go func() {
		<-ctx.Done()
		r.ln.Close()
	}()
	r.Log.Info("pickup listening", "socket", r.Addr(), "dir", r.Dir)
	for {
		c, err := r.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				r.wg.Wait()
				return nil
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			r.wg.Wait()
			return fmt.Errorf("accept on %s: %w", r.Addr(), err)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.serveConn(ctx, c)
		}()
	}
}

func (r *Receiver) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	uid, pid, err := pickup.PeerCred(c)
	if err != nil {
		r.Log.Warn("pickup socket: no peer credentials", "err", err)
		return
	}
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	var file *os.File
	for i, fd := range fds {
		if i == 0 {
			file = os.NewFile(uintptr(fd), "submitted")
		} else {
			unix.Close(fd)
		}
	}
	if file != nil {
		defer file.Close()
	}
	cmd := strings.TrimSpace(string(buf[:n]))
	reply := func(rep pickup.Reply) {
		b, _ := json.Marshal(rep)
		c.Write(append(b, '\n'))
	}
	user := diag.UserName(uid)
	switch {
	case cmd == "SUBMIT":
		if file == nil {
			reply(pickup.Reply{Class: string(diag.Permanent), Sentence: "SUBMIT without a file", Exit: diag.ExProtocol})
			return
		}
		id, err := r.take(ctx, file, uid, user, "socket", "")
		if err != nil {
			d := diag.From(err, "ebb serve", "pickup")
			reply(pickup.Reply{Class: string(d.Class), Sentence: d.Sentence(), Exit: d.ExitCode()})
			return
		}
		r.Log.Info("pickup queued", "queue_id", id, "uid", uid, "user", user, "pid", pid, "via", "socket")
		reply(pickup.Reply{OK: true, ID: id})
	case cmd == "FLUSH" || strings.HasPrefix(cmd, "FLUSH "):
		if r.Flush == nil {
			reply(pickup.Reply{Class: string(diag.Temporary), Sentence: "this daemon cannot flush its queue", Exit: diag.ExUnavailable})
			return
		}
		id := strings.TrimSpace(strings.TrimPrefix(cmd, "FLUSH"))
		if err := r.Flush(ctx, id); err != nil {
			d := diag.From(err, "ebb serve", "flush")
			reply(pickup.Reply{Class: string(d.Class), Sentence: d.Sentence(), Exit: d.ExitCode()})
			return
		}
		r.Log.Info("queue flush requested", "uid", uid, "user", user, "id", id)
		reply(pickup.Reply{OK: true})
	case cmd == "MAILQ":
		if r.Mailq == nil {
			reply(pickup.Reply{Class: string(diag.Temporary), Sentence: "this daemon cannot list its queue", Exit: diag.ExUnavailable})
			return
		}
		reply(pickup.Reply{OK: true})
		if err := r.Mailq(ctx, c); err != nil {
			fmt.Fprintf(c, "ebb serve: cannot list the queue: %v\n", err)
		}
	default:
		reply(pickup.Reply{Class: string(diag.Permanent), Sentence: fmt.Sprintf("unknown command %q", clip(cmd)), Exit: diag.ExProtocol})
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// permanent makes a refusal that retrying cannot fix.
func permanent(op, doing, path string, err error, exit int) *diag.Error {
	e := diag.New(op, doing, path, err)
	e.Component, e.Class, e.Exit = "ebb serve", diag.Permanent, exit
	return e
}

// take reads one submitted file (the socket's or the directory's) and hands
// it to the queue. The trace header names the submitting uid, which the
// kernel vouched for (socket) or the file system did (file owner): what
// the envelope claims about the sender is the user's word, the uid is not.
func (r *Receiver) take(ctx context.Context, f *os.File, uid int, user, via, name string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return "", permanent("pickup", "take a message from", name, errors.New("not a regular file"), diag.ExDataErr)
	}
	size := st.Size
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	penv, err := pickup.ReadEnvelope(br)
	if err != nil {
		return "", permanent("pickup", "read the envelope of", name, err, diag.ExDataErr)
	}
	msgSize := size - int64(len(pickup.Magic)) // close enough for the limit
	if r.MaxSize > 0 && msgSize > r.MaxSize {
		return "", permanent("pickup", "accept", name,
			fmt.Errorf("message of %s is larger than smtp.max_message_size (%s)", diag.HumanBytes(uint64(msgSize)), diag.HumanBytes(uint64(r.MaxSize))), diag.ExDataErr)
	}
	env := &queue.Envelope{
		From:       penv.From,
		Recipients: penv.Recipients,
		Prefix:     received(r.Hostname, uid, user, via, time.Now()),
		ClientAddr: "local",
		ClientName: fmt.Sprintf("uid %d %s", uid, user),
		Proto:      "local",
		SessionID:  via + ":" + name,
		BodyType:   penv.BodyType,
	}
	// sendmail -N, -R, -V (RFC 3461), as SMTP's NOTIFY, RET, ENVID.
	env.RcptDSN, env.Ret, env.EnvID = queue.ParseDSNOptions(penv.Recipients, penv.Notify, penv.Ret, penv.EnvID)
	return r.Queue.Receive(ctx, env, pickup.NewCRLF(br), queue.ReceiveOptions{Via: queue.ViaPickup})
}

// Kick makes the scanner look at the directory now.
func (r *Receiver) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// staleAfter is when a t. file nobody finished is removed: its sendmail
// died, or the daemon took it and the removal failed.
const staleAfter = 24 * time.Hour

// Scan picks up every ready file in the directory, oldest first. A file
// that fails for a temporary reason stays for the next scan; one that can
// never work is renamed to x.<name> and logged.
func (r *Receiver) Scan(ctx context.Context) {
	r.scanning.Lock()
	defer r.scanning.Unlock()
	d, err := os.Open(r.Dir)
	if err != nil {
		r.Log.Error("pickup scan", "diag", diag.PathError("ebb serve", "open", "read the pickup directory", r.Dir, err, nil))
		return
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		r.Log.Error("pickup scan", "dir", r.Dir, "err", err)
		return
	}
	for _, n := range names {
		if ctx.Err() != nil {
			return
		}
		p := filepath.Join(r.Dir, n)
		switch {
		case strings.HasPrefix(n, pickup.ReadyPrefix):
			r.pick(ctx, p, n)
		case strings.HasPrefix(n, pickup.TmpPrefix):
			if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > staleAfter {
				if err := os.Remove(p); err != nil {
					r.Log.Warn("pickup: cannot remove a stale file; it stays", "file", p,
						"diag", diag.PathError("ebb serve", "remove", "remove the stale pickup file", p, err, nil))
					continue
				}
				r.Log.Info("pickup: removed stale file", "file", p)
			}
		}
	}
}

// fstat is syscall.Fstat; a test makes it fail (it does not on a file
// open for reading, but the error is said all the same).
var fstat = syscall.Fstat

func (r *Receiver) pick(ctx context.Context, p, name string) {
	// O_NONBLOCK: a FIFO planted under a ready name must not hang us.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		r.reject(p, name, err)
		return
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := fstat(int(f.Fd()), &st); err != nil {
		// Left where it is: the next scan tries it again (principle 7:
		// said, not skipped silently).
		r.Log.Error("pickup: cannot read a ready file's owner and links; it is left for the next scan", "file", p,
			"diag", diag.PathError("ebb serve", "stat", "read the owner of the pickup file", p, err, nil))
		return
	}
	if st.Nlink != 1 {
		// A hard link to someone else's file would make us send it.
		r.reject(p, name, errors.New("the file has other hard links"))
		return
	}
	uid := int(st.Uid)
	user := diag.UserName(uid)
	id, err := r.take(ctx, f, uid, user, "pickup", name)
	if err != nil {
		if de, ok := diag.As(err); ok && de.Class == diag.Permanent {
			r.reject(p, name, err)
			return
		}
		r.Log.Warn("pickup deferred", "file", p, "uid", uid, "user", user, "diag", diag.From(err, "ebb serve", "pickup"))
		return
	}
	if err := os.Remove(p); err != nil {
		r.Log.Error("pickup: cannot remove a queued file (it would be queued again)", "file", p, "queue_id", id, "err", err)
		return
	}
	r.Log.Info("pickup queued", "queue_id", id, "uid", uid, "user", user, "via", "pickup", "file", name)
}

func (r *Receiver) reject(p, name string, err error) {
	bad := filepath.Join(r.Dir, "x."+strings.TrimPrefix(name, pickup.ReadyPrefix))
	if rerr := os.Rename(p, bad); rerr != nil {
		// Not set aside: it stays under its ready name, and the next scan
		// refuses it again.
		r.Log.Error("pickup: message refused for good; the file cannot be set aside and stays", "file", p, "err", err,
			"diag", diag.PathError("ebb serve", "rename", "set aside as "+filepath.Base(bad)+" the refused pickup file", p, rerr, nil))
		return
	}
	r.Log.Error("pickup: message refused for good; the file is kept", "file", bad, "err", err)
}

// Close stops listening.
func (r *Receiver) Close() error {
	if r.ln != nil {
		return r.ln.Close()
	}
	return nil
}
