package mailhdr

import (
	"bytes"
	"strings"
)

// Field is one header field as it stands in the message.
type Field struct {
	// Name is the field name as written, without the white space RFC
	// 5322 §4.5 allows before the colon; "" for a line that is no field,
	// which only Scanner.Lax gives.
	Name string
	// Raw is the field as written: every line with its line end (the
	// last one too, unless the input ended there), at most MaxField bytes
	// (Scanner.SetMaxField).
	Raw []byte
	// Truncated: the field is longer than that; Raw is its start.
	Truncated bool
	vstart    int // where the value starts in Raw (after the colon)
}

// NewField makes a Field from its text as written ("Name: value", folded
// or not, with or without a final line end), as Scanner would read it.
func NewField(raw string) Field {
	f := Field{Raw: []byte(raw)}
	if n, ok := fieldName(f.Raw); ok {
		f.Name = string(n)
		f.vstart = bytes.IndexByte(f.Raw, ':') + 1
	}
	return f
}

// Clone is f with a copy of Raw: a Scanner's field holds its buffer only
// until the next Scan.
func (f Field) Clone() Field {
	f.Raw = bytes.Clone(f.Raw)
	return f
}

// Is reports whether the field is named name (field names are
// case-insensitive, RFC 5322 §1.2.2).
func (f Field) Is(name string) bool {
	return f.Name != "" && strings.EqualFold(f.Name, name)
}

// RawValue is the value as written, after the colon: folding and line
// ends inside kept, the final line end removed. A line that is no field
// (Scanner.Lax) has its whole text here.
func (f Field) RawValue() string {
	v := f.Raw[f.vstart:]
	v = bytes.TrimSuffix(v, []byte("\n"))
	v = bytes.TrimSuffix(v, []byte("\r"))
	return string(v)
}

// Value is the value unfolded (RFC 5322 §2.2.3: each line end followed by
// white space is removed) without white space around it.
func (f Field) Value() string { return Unfold(f.RawValue()) }

// Unfold removes the line ends of folding (CRLF or LF followed by white
// space; RFC 5322 §2.2.3) and the white space around the value. A line
// end not followed by white space (a folded value ends with one) goes
// too.
func Unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		var b strings.Builder
		b.Grow(len(v))
		for i := 0; i < len(v); i++ {
			switch {
			case v[i] == '\n':
			case v[i] == '\r' && i+1 < len(v) && v[i+1] == '\n':
			default:
				b.WriteByte(v[i])
			}
		}
		v = b.String()
	}
	return strings.Trim(v, " \t")
}
