package deliver

import (
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// maxHeaderBytes bounds what Message.Header holds; the loop check reads
// every field whatever the header's size.
const maxHeaderBytes = 1 << 20

// headerView is what delivery takes from the message's own header (not
// ebb's prefix), read once with mailhdr's Scanner: the header a filter
// gets, and every Delivered-To value for the loop check.
type headerView struct {
	header       *mailhdr.Header
	deliveredTos []string
}

// readHeaderView reads the header at r's start: every field is looked
// at (Delivered-To whatever its place), the first maxHeaderBytes of them
// are kept.
func readHeaderView(r io.Reader) headerView {
	// Reads of about a header's size (smallReads), into the usual
	// buffer: the header is read the same, but the first fill no longer
	// copies up to 64 KiB of body from the file (the staged copy) for a
	// header of a few hundred bytes.
	br := bufpool.Reader(smallReads{r})
	defer bufpool.PutReader(br) // fields are copies, never the buffer
	v := headerView{header: &mailhdr.Header{}}
	s := mailhdr.NewScanner(br)
	total := 0
	for s.Scan() {
		f := s.Field()
		if f.Is("Delivered-To") {
			v.deliveredTos = append(v.deliveredTos, f.Value())
		}
		if total += len(f.Raw); total <= maxHeaderBytes {
			v.header.Fields = append(v.header.Fields, f)
		}
	}
	v.header.Size, v.header.Separator, v.header.NoHeader = s.Offset(), s.Separator(), s.NoHeader()
	return v
}

// checkHeaderLine validates a header line that ebb is asked to prepend
// (-A "Name: value"): a field as mailhdr reads one, no line breaks.
func checkHeaderLine(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return errors.New("a header line may not contain a line break or NUL")
	}
	// RFC 5322 §2.2: a field body is printable characters and white
	// space; another control character (an escape sequence) is refused.
	if strings.IndexFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0 {
		return errors.New("a header line may not contain a control character")
	}
	if mailhdr.NewField(s).Name == "" {
		return errors.New(`a header line must look like "Name: value"`)
	}
	return nil
}

// loopAddress is an address as the loop check compares it: the addr-spec
// a Delivered-To value (or an envelope address) holds, read by mailhdr,
// lower case; a value that is no address is compared as written, without
// angle brackets.
func loopAddress(s string) string {
	if list, err := mailhdr.ParseAddressList(s); err == nil && len(list) == 1 {
		return strings.ToLower(list[0].Spec())
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return strings.ToLower(strings.TrimSpace(s))
}
