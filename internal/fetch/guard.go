package fetch

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Bounds on what an IMAP server can make ebb hold (principle 3: memory
// stays flat whatever the remote does). go-imap buffers a reply line, a
// command's untagged answers and every literal but BODY[] in memory, and
// its decoder has no limits of its own; guardConn counts what it reads
// and ends the connection when a server goes past them.
const (
	// maxReplyLine is one line of a reply outside literals: a SEARCH of
	// a million UIDs fits (RFC 9051 sets no limit; Dovecot's client side
	// takes 64 KiB, ESEARCH keeps long ones short).
	maxReplyLine = 16 << 20
	// maxReplyPerCommand is everything outside literals between two
	// commands of ours (untagged data pushed in IDLE included).
	maxReplyPerCommand = 64 << 20
	// literalSlack is what a literal may exceed the message size limit
	// by (a server's own size is counted with CRLF, ours maybe not).
	literalSlack = 1 << 20
	// maxLiteralNoLimit bounds a literal when no message size limit is set.
	maxLiteralNoLimit = 1 << 30
)

// errOverflow is a server past one of the bounds.
type errOverflow struct{ what string }

func (e *errOverflow) Error() string { return e.what }

// guardConn is the connection go-imap reads: it tracks the reply syntax
// only as far as lines and literals ("{N}" or "{N+}" at a line end, RFC
// 9051 §4.3) and fails the read that goes past a bound. Writes (our
// commands) start a new command's count. prefix is read first (the
// greeting after a STARTTLS done by hand).
type guardConn struct {
	net.Conn
	maxLiteral int64

	mu      sync.Mutex
	prefix  []byte
	line    int64 // bytes of the current line outside literals
	reply   int64 // bytes outside literals since our last command
	literal int64 // literal bytes still to come
	tail    []byte
	// inCaps: the line is inside a capability list: after "* CAPABILITY "
	// at its start (the untagged response) or "[CAPABILITY " (the response
	// code), before "]" or its end. The word elsewhere is no list: Dovecot
	// ends its reply to CAPABILITY with "T OK Capability completed (0.001
	// + 0.000 secs).". capsWord: "CAPABILITY" was just read there, and
	// only a space after it opens the list.
	inCaps, capsWord bool
	err              error
	// progress, when set, hears of every read that brought bytes.
	progress func()
}

func newGuardConn(c net.Conn, maxMessage int64, prefix []byte) *guardConn {
	lit := int64(maxLiteralNoLimit)
	if maxMessage > 0 {
		lit = maxMessage + literalSlack
	}
	return &guardConn{Conn: c, maxLiteral: lit, prefix: prefix, tail: make([]byte, 0, 32)}
}

func (g *guardConn) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return 0, err
	}
	if len(g.prefix) > 0 {
		n := copy(p, g.prefix)
		g.prefix = g.prefix[n:]
		g.mu.Unlock()
		return n, nil
	}
	g.mu.Unlock()
	n, err := g.Conn.Read(p)
	if n > 0 && g.progress != nil {
		g.progress()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if oerr := g.scan(p[:n]); oerr != nil {
		g.err = oerr
		g.Conn.Close()
		return 0, oerr
	}
	return n, err
}

// scan follows lines and literals through b.
func (g *guardConn) scan(b []byte) error {
	for len(b) > 0 {
		if g.literal > 0 {
			k := min(int64(len(b)), g.literal)
			g.literal -= k
			b = b[k:]
			continue
		}
		c := b[0]
		b = b[1:]
		g.line++
		g.reply++
		if c == '\n' {
			if n, ok := literalAtEnd(g.tail); ok {
				if n > g.maxLiteral {
					return &errOverflow{fmt.Sprintf("the server announced a literal of %d bytes, more than the %d ebb takes (smtp.max_message_size and 1 MiB)", n, g.maxLiteral)}
				}
				g.literal = n
			}
			g.line, g.tail, g.inCaps, g.capsWord = 0, g.tail[:0], false, false
			continue
		}
		if g.capsWord {
			g.capsWord, g.inCaps = false, c == ' '
		}
		switch {
		case c == ']':
			g.inCaps = false
		case c == '(' && g.inCaps:
			// go-imap (v2.0.0-beta.8 and .9) reads a capability list with
			// "for dec.SP() {}", and its SP() is true, without reading a
			// byte, before a "(": its reader spins for ever on one. No
			// capability holds a "(" (RFC 9051 §9: capability is an atom).
			return &errOverflow{"the server's CAPABILITY list holds a \"(\", which is no capability (RFC 9051 §9)"}
		}
		if len(g.tail) == cap(g.tail) {
			copy(g.tail, g.tail[1:])
			g.tail = g.tail[:len(g.tail)-1]
		}
		g.tail = append(g.tail, c)
		if c == 'Y' || c == 'y' {
			g.capsWord = capsListStart(g.tail, g.line)
		}
		if g.line > maxReplyLine {
			return &errOverflow{fmt.Sprintf("the server sent a reply line longer than %d bytes", maxReplyLine)}
		}
		if g.reply > maxReplyPerCommand {
			return &errOverflow{fmt.Sprintf("the server sent more than %d bytes (outside message bodies) in answer to one command", maxReplyPerCommand)}
		}
	}
	return nil
}

// capsListStart reports whether tail (the last bytes of a line of n
// bytes so far) ends with the word CAPABILITY (any case, RFC 9051 §9)
// that starts a capability list: the untagged response ("* CAPABILITY"
// at the line's start) or the response code ("[CAPABILITY").
func capsListStart(tail []byte, n int64) bool {
	k := len(tail)
	if k < 11 || !strings.EqualFold(string(tail[k-10:]), "CAPABILITY") {
		return false
	}
	return tail[k-11] == '[' || n == 12 && k == 12 && tail[k-12] == '*' && tail[k-11] == ' '
}

// literalAtEnd reads "{N}" or "{N+}" (RFC 7888) at the end of a line
// (before its CR).
func literalAtEnd(tail []byte) (int64, bool) {
	t := tail
	if len(t) > 0 && t[len(t)-1] == '\r' {
		t = t[:len(t)-1]
	}
	if len(t) < 3 || t[len(t)-1] != '}' {
		return 0, false
	}
	t = t[:len(t)-1]
	if t[len(t)-1] == '+' {
		t = t[:len(t)-1]
	}
	i := len(t)
	for i > 0 && t[i-1] >= '0' && t[i-1] <= '9' {
		i--
	}
	if i == len(t) || i == 0 || t[i-1] != '{' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(t[i:]), 10, 64)
	if err != nil {
		return 1<<63 - 1, true // more digits than fit: over any bound
	}
	return n, true
}

func (g *guardConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.reply = 0
	g.mu.Unlock()
	return g.Conn.Write(p)
}

// overflow is the bound a server went past, if any.
func (g *guardConn) overflow() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var o *errOverflow
	if errors.As(g.err, &o) {
		return o
	}
	return nil
}
