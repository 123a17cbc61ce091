// Package pickup is how ebb sendmail hands a message to the daemon without
// giving ordinary users access to the spool (which stays 0700, owned by the
// daemon user).
//
// The design (docs/sendmail.md has the why):
//
//   - The pickup directory (sendmail.pickup_dir) is owned by the daemon
//     user, mode 3733: everyone may create files (w+x) but not list it (no
//     r), the sticky bit keeps users from removing each other's files, and
//     the setgid bit makes every file inherit the daemon's group. sendmail
//     creates its file there with mode 0640, so the daemon's group can read
//     it and other users cannot (no setgid helper program is needed: the
//     directory's setgid bit does what postdrop's setgid does in Postfix).
//   - sendmail writes the message into "t.<random>" (the envelope on the
//     first line, then the message), and offers the open file to the
//     running daemon over a unix socket (SCM_RIGHTS). The daemon learns the
//     caller's uid from the socket (SO_PEERCRED), queues the message
//     durably, and answers; sendmail then removes its file and exits 0.
//   - When the daemon is not running or does not answer, sendmail makes
//     the file durable (fsync, rename to "m.<random>", syncfs) and exits 0:
//     the daemon picks it up when it starts and every
//     sendmail.scan_interval while it runs, with the file's owner as the
//     submitting uid.
package pickup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Magic starts every pickup file and names its version.
const Magic = "EBB-PICKUP 1 "

// MaxEnvelope bounds the first line of a pickup file.
const MaxEnvelope = 1 << 20

// Envelope is what sendmail tells the daemon besides the message. The
// submitting user is not part of it: the daemon takes the uid from the
// socket or the file's owner, never from what the file says.
type Envelope struct {
	From       string    `json:"from"`
	Recipients []string  `json:"recipients"`
	BodyType   string    `json:"body_type,omitempty"`
	Notify     string    `json:"notify,omitempty"`
	Ret        string    `json:"ret,omitempty"`
	EnvID      string    `json:"envid,omitempty"`
	Created    time.Time `json:"created"`
}

// WriteEnvelope writes the first line of a pickup file.
func WriteEnvelope(w io.Writer, env *Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	if len(b) > MaxEnvelope-len(Magic)-1 {
		return fmt.Errorf("envelope of %d bytes is larger than %d (too many recipients?)", len(b), MaxEnvelope)
	}
	_, err = fmt.Fprintf(w, "%s%s\n", Magic, b)
	return err
}

// ReadEnvelope reads the first line of a pickup file; r is then at the
// start of the message.
func ReadEnvelope(r *bufio.Reader) (*Envelope, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > MaxEnvelope {
			return nil, errors.New("envelope line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read envelope: %w", err)
		}
		break
	}
	s := string(line)
	if !strings.HasPrefix(s, Magic) {
		return nil, errors.New("not a pickup file (no " + strings.TrimSpace(Magic) + " line)")
	}
	env := &Envelope{}
	if err := json.Unmarshal([]byte(s[len(Magic):]), env); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if len(env.Recipients) == 0 {
		return nil, errors.New("envelope without recipients")
	}
	return env, nil
}

// CRLF converts LF line ends to CRLF as it reads: pickup files hold LF
// (sendmail normalised them), the spool holds the message as SMTP carries
// it. A CRLF already present is kept.
type CRLF struct {
	r      *bufio.Reader
	prevCR bool
	hold   bool // an LF is owed after the CR just written
}

// NewCRLF wraps r.
func NewCRLF(r io.Reader) *CRLF { return &CRLF{r: bufio.NewReaderSize(r, 64<<10)} }

func (c *CRLF) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.hold {
			p[n] = '\n'
			n++
			c.hold, c.prevCR = false, false
			continue
		}
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b == '\n' && !c.prevCR {
			p[n] = '\r'
			n++
			c.hold = true
			continue
		}
		p[n] = b
		n++
		c.prevCR = b == '\r'
		if c.r.Buffered() == 0 && n > 0 {
			// Do not block for more while holding data.
			return n, nil
		}
	}
	return n, nil
}
