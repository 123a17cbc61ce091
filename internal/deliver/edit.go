package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/maildir"
)

// rewriteHeader writes a copy of the staged message into maildir's tmp/ with
// its header block (ebb's prefix and the message's own fields, as a filter
// sees them) replaced by fields, an empty line, then the original body read
// from the staged file (never from memory). The line ends follow the staged
// file's (LF since every input goes through lfReader), also inside folded
// fields.
func (a *Agent) rewriteHeader(st *staged, dir string, fields []string) (*maildir.Tmp, error) {
	f, err := os.Open(st.tmp.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufpool.Reader(f)
	defer bufpool.PutReader(br)
	crlf, err := skipHeader(br)
	if err != nil {
		return nil, fmt.Errorf("read the staged message: %w", err)
	}
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	tmp, err := maildir.CreateTmp(dir, a.namer())
	if err != nil {
		return nil, err
	}
	var head bytes.Buffer
	for _, fl := range fields {
		// A folded field from the filter may carry CRLF inside; the file
		// keeps one line-end style.
		head.WriteString(strings.ReplaceAll(strings.ReplaceAll(fl, "\r\n", "\n"), "\n", eol))
		head.WriteString(eol)
	}
	head.WriteString(eol)
	if _, err := tmp.Write(head.Bytes()); err != nil {
		tmp.Remove()
		return nil, err
	}
	if _, err := tmp.ReadFrom(br); err != nil {
		tmp.Remove()
		return nil, err
	}
	if err := tmp.Finish(); err != nil {
		tmp.Remove()
		return nil, err
	}
	return tmp, nil
}

// skipHeader consumes the header at the start of br by the rules scanHeader
// reads it with: up to and including the empty line, or up to (not
// including) the first line that is neither a field nor a continuation. It
// reports whether the header's lines end in CRLF.
func skipHeader(br *bufio.Reader) (crlf bool, err error) {
	first := true
	for {
		line, err := br.Peek(1)
		if err == io.EOF || len(line) == 0 {
			return crlf, nil
		}
		if err != nil {
			return crlf, err
		}
		// Look at the whole line without consuming it yet.
		raw, err := peekLine(br)
		if err != nil && err != io.EOF {
			return crlf, err
		}
		content := bytes.TrimRight(raw, "\r\n")
		switch {
		case len(content) == 0:
			if bytes.HasSuffix(raw, []byte("\r\n")) {
				crlf = true
			}
			_, err := br.Discard(len(raw))
			return crlf, err
		case content[0] == ' ' || content[0] == '\t':
			if first {
				return crlf, nil
			}
		case !isFieldStart(content):
			return crlf, nil
		}
		if bytes.HasSuffix(raw, []byte("\r\n")) {
			crlf = true
		}
		if err := consumeLine(br); err != nil {
			return crlf, err
		}
		first = false
	}
}

// consumeLine reads past the next line end, however long the line.
func consumeLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return nil
		}
		return err
	}
}

// peekLine returns the next line including its end without consuming it.
// A line longer than the buffer is returned cut at the buffer's size: the
// caller only judges its start, then consumes it whole (consumeLine).
func peekLine(br *bufio.Reader) ([]byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(min(n*512, br.Size()))
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i+1], nil
		}
		if err != nil || len(b) == br.Size() {
			return b, err
		}
	}
}
