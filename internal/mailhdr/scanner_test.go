package mailhdr

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

// scan reads every field of msg and returns "Name=value" per field ("?=…"
// for a line that is no field), the offset of the body and the rest.
func scan(t *testing.T, msg string) (fields []string, off int64, body string, s *Scanner) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(msg), 16)
	s = NewScanner(br)
	for s.Scan() {
		f := s.Field()
		name := f.Name
		if name == "" {
			name = "?"
		}
		fields = append(fields, name+"="+f.Value())
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	rest, _ := io.ReadAll(br)
	return fields, s.Offset(), string(rest), s
}

// Where the header ends and what its fields are: the rules every part of
// ebb reads a message by (Scanner's comment).
func TestScannerFields(t *testing.T) {
	for _, c := range []struct {
		name, msg string
		fields    []string
		body      string
		noHeader  bool
	}{
		{"plain CRLF", "From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n",
			[]string{"From=a@b.example", "Subject=hi"}, "body\r\n", false},
		{"plain LF", "From: a@b.example\nSubject: hi\n\nbody\n",
			[]string{"From=a@b.example", "Subject=hi"}, "body\n", false},
		{"folded", "Subject: one\r\n two\r\n\tthree\r\n\r\n",
			[]string{"Subject=one two\tthree"}, "", false},
		{"white space only continuation (obs-FWS)", "Subject: a\r\n \r\n b\r\n\r\nx",
			[]string{"Subject=a  b"}, "x", false},
		{"obs-optional: white space before the colon (RFC 5322 §4.5)", "From : ceo@bank.example\r\nTo\t: x@y\r\n\r\n",
			[]string{"From=ceo@bank.example", "To=x@y"}, "", false},
		{"a line that is no field ends the header (Postfix)", "X-A: 1\r\nthis is no field\r\nFrom: ceo@bank.example\r\n\r\nbody",
			[]string{"X-A=1"}, "this is no field\r\nFrom: ceo@bank.example\r\n\r\nbody", false},
		{"a name with a space inside is no field", "X-A: 1\r\nFrom ceo: x\r\n\r\n",
			[]string{"X-A=1"}, "From ceo: x\r\n\r\n", false},
		{"mbox From line skipped", "From ceo@bank.example Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nbody",
			[]string{"From=a@b"}, "body", false},
		{"no header: the first line is text", "Hello there\nFrom: ceo@bank.example\n\nbody",
			nil, "Hello there\nFrom: ceo@bank.example\n\nbody", true},
		{"no header: the first line is a continuation", " From: ceo@bank.example\n\nbody",
			nil, " From: ceo@bank.example\n\nbody", true},
		{"empty header", "\r\nbody", nil, "body", false},
		{"header only, no final line end", "From: a@b\r\nSubject: x", []string{"From=a@b", "Subject=x"}, "", false},
		{"empty input", "", nil, "", false},
		{"a bare CR is content", "Subject: a\rFrom: ceo@bank.example\r\n\r\n", []string{"Subject=a\rFrom: ceo@bank.example"}, "", false},
		{"CR CR LF is no empty line", "A: 1\r\n\r\r\nB: 2\r\n\r\n", []string{"A=1"}, "\r\r\nB: 2\r\n\r\n", false},
		{"a colon first is no field", "A: 1\n: x\n\n", []string{"A=1"}, ": x\n\n", false},
		{"8-bit in a name is no field", "A: 1\nFr\xc3\xb6m: x\n\n", []string{"A=1"}, "Fr\xc3\xb6m: x\n\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fields, off, body, s := scan(t, c.msg)
			if strings.Join(fields, "|") != strings.Join(c.fields, "|") {
				t.Errorf("fields %q, want %q", fields, c.fields)
			}
			if body != c.body {
				t.Errorf("body %q, want %q", body, c.body)
			}
			if int(off) != len(c.msg)-len(c.body) {
				t.Errorf("offset %d, want %d", off, len(c.msg)-len(c.body))
			}
			if s.NoHeader() != c.noHeader {
				t.Errorf("NoHeader %v", s.NoHeader())
			}
		})
	}
}

// A field longer than MaxField is held cut (Truncated), the header goes on
// after it, and CopyRest gives back every byte: a stream rewritten from
// the fields is the input.
func TestScannerLongField(t *testing.T) {
	long := "To: " + strings.Repeat("someone@example.org, ", 10000) + "\r\n\t" + strings.Repeat("x", 3*MaxField) + "\r\n"
	msg := "Subject: a\r\n" + long + "From: ceo@bank.example\r\n\r\nbody"
	br := bufio.NewReaderSize(strings.NewReader(msg), 4096)
	s := NewScanner(br)
	var out bytes.Buffer
	var names []string
	for s.Scan() {
		f := s.Field()
		names = append(names, f.Name)
		if len(f.Raw) > MaxField {
			t.Fatalf("Raw of %d bytes", len(f.Raw))
		}
		if f.Is("To") != f.Truncated {
			t.Errorf("%s: Truncated %v", f.Name, f.Truncated)
		}
		out.Write(f.Raw)
		if err := s.CopyRest(&out); err != nil {
			t.Fatal(err)
		}
	}
	out.Write(s.Separator())
	rest, _ := io.ReadAll(br)
	out.Write(rest)
	if out.String() != msg {
		t.Errorf("rewritten stream differs from the input (%d bytes, want %d)", out.Len(), len(msg))
	}
	if strings.Join(names, ",") != "Subject,To,From" {
		t.Errorf("fields %v", names)
	}
	// Without CopyRest the rest is skipped and the next field still read.
	fields, _, body, _ := scan(t, msg)
	if len(fields) != 3 || fields[2] != "From=ceo@bank.example" || body != "body" {
		t.Errorf("after a long field: %d fields, last %q, body %q", len(fields), fields[len(fields)-1], body)
	}
}

// Memory stays flat whatever the header's size: a 64 MiB header of one
// field is read through a 64 KiB buffer, holding MaxField.
func TestScannerFlatMemory(t *testing.T) {
	const size = 64 << 20
	r := io.MultiReader(strings.NewReader("X-Big: "), &repeatReader{b: []byte(" continued line of text\r\n"), n: size},
		strings.NewReader("From: a@b.example\r\n\r\nbody"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := ReadAuthors(bufio.NewReaderSize(r, 64<<10))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Domains) != 1 || a.Domains[0] != "b.example" {
		t.Errorf("authors %+v", a)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("reading a %d MiB header allocated %d KiB", size>>20, grew>>10)
	}
}

type repeatReader struct {
	b []byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	w := 0
	for w < len(p) && r.n > 0 {
		c := copy(p[w:], r.b)
		w += c
		r.n -= c
	}
	return w, nil
}

// StartsWithHeader does not wait for more than the first line from a
// pipe.
func TestStartsWithHeaderShortRead(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write([]byte("Subject: x\n"))
	if !StartsWithHeader(bufio.NewReader(pr)) {
		t.Error("a field line is not a header start")
	}
	pw.Close()
}

func TestReadHeaderBound(t *testing.T) {
	msg := "A: " + strings.Repeat("x", 100) + "\nB: y\n\nbody"
	h, err := Read(bufio.NewReader(strings.NewReader(msg)), 50)
	if err == nil || len(h.Fields) != 0 {
		t.Errorf("a header over the bound: %v, %d fields", err, len(h.Fields))
	}
	h, err = Read(bufio.NewReader(strings.NewReader(msg)), 1000)
	if err != nil || len(h.Fields) != 2 || h.Value("b") != "y" || h.Size != int64(len(msg)-4) {
		t.Errorf("%v %+v", err, h)
	}
}
