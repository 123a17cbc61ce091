package maildir

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
)

// Namer makes unique Maildir base names in Dovecot's style
// (maildir_filename_generate: "secs.MusecsPpid.host"), with a Q part: the
// number of names this process made. Every goroutine shares one pid, so the
// per-process counter is what keeps two deliveries in the same microsecond
// apart (maildir(5) lists Q as "deliveries made by this process").
// It is what a delivering process shares across its deliveries, so it also
// carries the group commit of their directory fsyncs (Publish).
type Namer struct {
	host  string
	pid   int
	count atomic.Uint64
	now   func() time.Time
	dirs  safeio.DirGroup

	// Flusher, when set, makes a finished tmp file and a link durable
	// instead of their own fsyncs: ebb serve's syncfs group commit per
	// filesystem (safeio.FSGroup), shared with the spool's receives, so
	// that one flush covers many deliveries and receives. Set it before
	// the first delivery.
	Flusher Flusher
}

// Flusher makes everything written under dir durable, sharing the flush
// with concurrent callers; nobody returns before a flush that began after
// its call (the guarantee of fsync).
//
// Shares says whether it flushes dir at all (ebb serve's syncfs group
// does only the spool's filesystem); a directory it does not share gets
// its own fsyncs.
type Flusher interface {
	Sync(dir string) error
	Shares(dir string) bool
}

// flusherFor is n's Flusher if it flushes dir, else nil.
func (n *Namer) flusherFor(dir string) Flusher {
	if n == nil || n.Flusher == nil || !n.Flusher.Shares(dir) {
		return nil
	}
	return n.Flusher
}

// syncDir fsyncs a Maildir subdirectory after a link into it, shared with
// the deliveries into the same directory at that moment.
func (n *Namer) syncDir(dir string) error {
	if n == nil {
		return safeio.SyncDir(dir)
	}
	if f := n.flusherFor(dir); f != nil {
		return f.Sync(dir)
	}
	return n.dirs.SyncDir(dir)
}

// NewNamer returns a Namer for hostname ("" = the machine's host name).
func NewNamer(hostname string) *Namer {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	if hostname == "" {
		hostname = "localhost"
	}
	return &Namer{host: SanitizeHost(hostname), pid: os.Getpid(), now: time.Now}
}

// Next returns a new unique base name, e.g. "1767261601.M364837P9451Q1.mx1".
func (n *Namer) Next() string {
	t := n.now()
	q := n.count.Add(1)
	return fmt.Sprintf("%d.M%dP%dQ%d.%s", t.Unix(), t.Nanosecond()/1000, n.pid, q, n.host)
}

// SanitizeHost makes a host name safe inside a Maildir name: "/" and ":" are
// written as \057 and \072 (maildir(5)); a leading "." and control bytes go.
func SanitizeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '/':
			b.WriteString(`\057`)
		case c == ':':
			b.WriteString(`\072`)
		case c == ',':
			// A comma starts the ,S= / ,W= fields in Maildir++ names.
			b.WriteString(`\054`)
		case c < 0x21 || c == 0x7f:
			// spaces and control bytes would confuse readers; drop them.
		default:
			b.WriteByte(c)
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	if s == "" {
		s = "localhost"
	}
	return s
}
