package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/safeio"
)

// rewriteHeader writes a copy of the staged message into maildir's tmp/ with
// its header block (ebb's prefix and the message's own fields, as a filter
// sees them) replaced by fields, an empty line, then the original body read
// from the staged file (never from memory). The line ends follow the staged
// file's (LF since every input goes through lfReader), also inside folded
// fields.
func (a *Agent) rewriteHeader(st *staged, dir string, fields []string) (*maildir.Tmp, error) {
	f, err := safeio.Open(st.tmp.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufpool.Reader(f)
	defer bufpool.PutReader(br)
	head, err := editedHead(br, fields)
	if err != nil {
		return nil, err
	}
	tmp, err := maildir.CreateTmp(dir, a.namer())
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Write(head); err != nil {
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

// editedHead consumes the header at the start of br (skipHeader) and
// returns the block that replaces it: fields, each with the line end of
// the file, and the empty line.
func editedHead(br *bufio.Reader, fields []string) ([]byte, error) {
	crlf, err := skipHeader(br)
	if err != nil {
		return nil, fmt.Errorf("read the staged message: %w", err)
	}
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var head bytes.Buffer
	for _, fl := range fields {
		// A folded field from the filter may carry CRLF inside; the file
		// keeps one line-end style.
		head.WriteString(strings.ReplaceAll(strings.ReplaceAll(fl, "\r\n", "\n"), "\n", eol))
		head.WriteString(eol)
	}
	head.WriteString(eol)
	return head.Bytes(), nil
}

// editedSize is the size of the copy rewriteHeader would write from the
// staged file at path (size bytes) with fields: its header is read, its
// body only counted.
func editedSize(path string, size int64, fields []string) (int64, error) {
	f, err := safeio.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var read countWriter
	br := bufpool.Reader(io.TeeReader(f, &read))
	defer bufpool.PutReader(br)
	head, err := editedHead(br, fields)
	if err != nil {
		return 0, err
	}
	return int64(len(head)) + size - (int64(read) - int64(br.Buffered())), nil
}

// skipHeader consumes the header at the start of br as mailhdr reads it
// (up to and including the empty line, or to the first line of a message
// without one) and reports whether its lines end in CRLF.
func skipHeader(br *bufio.Reader) (crlf bool, err error) {
	s := mailhdr.NewScanner(br)
	for s.Scan() {
		if bytes.HasSuffix(s.Field().Raw, []byte("\r\n")) {
			crlf = true
		}
	}
	if bytes.Equal(s.Separator(), []byte("\r\n")) {
		crlf = true
	}
	return crlf, s.Err()
}
