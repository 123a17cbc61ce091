package mailhdr

import (
	"bufio"
	"bytes"
	"io"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gmmail "github.com/emersion/go-message/mail"
	gmtextproto "github.com/emersion/go-message/textproto"
)

func init() {
	// go-message's address parser decodes display names through this
	// hook; give it the same charsets as ours, so that a difference is
	// the parsers', not the charset tables'.
	message.CharsetReader = CharsetReader
}

// FuzzAddressList: ParseAddressList against net/mail and go-message's
// mail on input both of those accept (they accept only valid RFC 5322,
// without most obsolete forms): the same addr-specs in the same order, and
// the same display names where no comment or quoting rule tells them
// apart. On any input: no panic, and what is read reads back the same
// when written out again.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		`John Doe <jdoe@machine.example>`, `"Joe Q. Public" <john.q.public@example.com>`,
		`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`,
		`Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example`,
		`=?windows-1252?q?Bank_Gr=FC=DFe?= <ceo@bank.example>`, `<ceo@bank.example >`,
		`a@friend.example, ceo@bank.example`, `"john doe"@example.org`, `x@[192.0.2.1]`,
		`Jörg <jörg@bücher.example>`, `ceo@bank.example <x@evil.example>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours, err := ParseAddressList(s)
		specs := func(n int, at func(i int) (string, string)) []string {
			out := make([]string, n)
			for i := range out {
				addr, _ := at(i)
				out[i] = addr
			}
			return out
		}
		mine := specs(len(ours), func(i int) (string, string) { return ours[i].Local + "@" + ours[i].Domain, ours[i].Name })
		if nl, nerr := netmail.ParseAddressList(s); nerr == nil && utf8.ValidString(s) {
			theirs := specs(len(nl), func(i int) (string, string) { return nl[i].Address, nl[i].Name })
			if err != nil || strings.Join(mine, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("net/mail reads %q as %q; ours %q (%v)", s, theirs, mine, err)
			}
			compareNames(t, "net/mail", s, ours, func(i int) string { return nl[i].Name })
		}
		if gl, gerr := gmmail.ParseAddressList(s); gerr == nil && utf8.ValidString(s) {
			theirs := specs(len(gl), func(i int) (string, string) { return gl[i].Address, gl[i].Name })
			if err != nil || strings.Join(mine, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("go-message reads %q as %q; ours %q (%v)", s, theirs, mine, err)
			}
		}
		// Written out again, the addresses read back the same.
		var w []string
		for _, a := range ours {
			if strings.ContainsAny(a.Local+a.Domain, "\r\n") {
				return
			}
			w = append(w, "<"+a.Spec()+">")
		}
		again, err := ParseAddressList(strings.Join(w, ", "))
		if err != nil || len(again) != len(ours) {
			t.Fatalf("%q: written as %q reads %v, %v", s, w, again, err)
		}
		for i := range again {
			if again[i].Local != ours[i].Local || again[i].Domain != ours[i].Domain {
				t.Errorf("%q: %q reads back as %q", s, ours[i].Spec(), again[i].Spec())
			}
		}
		AuthorsOf([]Field{NewField("From: " + s)})
	})
}

// compareNames compares display names where the two readers' rules agree:
// no comment (net/mail takes a comment for a name), no quoted string or
// encoded word (net/mail decodes words inside quotes, RFC 2047 §5 says
// not to), white space collapsed.
func compareNames(t *testing.T, who, s string, ours []Address, theirs func(int) string) {
	if strings.ContainsAny(s, `("\`) || strings.Contains(s, "=?") {
		return
	}
	for i, a := range ours {
		if strings.Join(strings.Fields(a.Name), " ") != strings.Join(strings.Fields(theirs(i)), " ") {
			t.Errorf("%s: %q: name %q, ours %q", who, s, theirs(i), a.Name)
		}
	}
}

// FuzzHeader: the Scanner on any bytes. With every buffer size it reads
// the same fields and ends at the same place; its fields, their
// remainders and the separator put together are the input (nothing is
// lost or invented, which StripReader relies on); and where go-message's
// and net/textproto's header readers accept the input, they read the same
// fields with the same values.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n",
		"X-A: 1\r\nno field\r\nFrom: ceo@bank.example\r\n\r\nbody",
		"From : ceo@bank.example\r\n\r\n", "From x Mon\nFrom: a@b\n\nbody", "Hello\nFrom: a@b\n\n",
		"Subject: a\rFrom: ceo@bank.example\r\n\r\n", "Subject: a\r\n \r\n b\r\n\r\nx", "",
		"From: =?windows-1252?q?Bank_Gr=FC=DFe?= <ceo@bank.example>\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		type result struct {
			names, values    []string
			truncated        []bool
			off              int64
			noHeader, atText bool
		}
		read := func(size int) (result, []byte) {
			br := bufio.NewReaderSize(bytes.NewReader(b), size)
			s := NewScanner(br)
			var r result
			var out bytes.Buffer
			for s.Scan() {
				fl := s.Field()
				r.names = append(r.names, fl.Name)
				r.values = append(r.values, fl.Value())
				r.truncated = append(r.truncated, fl.Truncated)
				out.Write(fl.Raw)
				s.CopyRest(&out)
			}
			out.Write(s.Separator())
			rest, _ := io.ReadAll(br)
			out.Write(rest)
			r.off, r.noHeader, r.atText = s.Offset(), s.NoHeader(), s.EndedAtText()
			return r, out.Bytes()
		}
		ref, whole := read(64 << 10)
		mbox := int64(0)
		if br := bufio.NewReader(bytes.NewReader(b)); true {
			mbox, _ = SkipMboxLine(br)
		}
		if !bytes.Equal(whole, b[mbox:]) {
			t.Fatalf("fields, remainders and separator make %q, not the input %q", whole, b[mbox:])
		}
		for _, size := range []int{1024, 4096} {
			r, _ := read(size)
			if strings.Join(r.names, "\x00") != strings.Join(ref.names, "\x00") || r.off != ref.off || r.noHeader != ref.noHeader {
				t.Fatalf("buffer %d: %q at %d, with 64 KiB: %q at %d", size, r.names, r.off, ref.names, ref.off)
			}
		}
		if mbox > 0 || ref.noHeader || bytes.IndexByte(b, 0) >= 0 {
			return
		}
		if ref.atText {
			return // a line that is no field: the others refuse it
		}
		if m, err := netmail.ReadMessage(bytes.NewReader(b)); err == nil && !bytes.Contains(b, []byte("\r\r")) {
			// net/mail (net/textproto): the same values for each name.
			mine := map[string][]string{}
			for i, n := range ref.names {
				k := textproto.CanonicalMIMEHeaderKey(n)
				v := strings.Join(strings.Fields(ref.values[i]), " ")
				if ref.truncated[i] {
					v = "(truncated)"
				}
				mine[k] = append(mine[k], v)
			}
			theirs := map[string][]string{}
			for key, vs := range m.Header {
				// net/mail keeps "From " (RFC 5322 §4.5's white space
				// before the colon) as another name; it is From.
				k := textproto.CanonicalMIMEHeaderKey(strings.TrimRight(key, " \t"))
				for _, v := range vs {
					theirs[k] = append(theirs[k], strings.Join(strings.Fields(v), " "))
				}
			}
			for k, vs := range theirs {
				ours := append([]string(nil), mine[k]...)
				if len(ours) != len(vs) {
					t.Errorf("net/mail reads %d %s fields, ours %d", len(vs), k, len(ours))
					continue
				}
				slices.Sort(vs)
				slices.Sort(ours)
				for j := range vs {
					if ours[j] != "(truncated)" && ours[j] != vs[j] {
						t.Errorf("net/mail reads %s: %.200q, ours %.200q", k, vs, ours)
						break
					}
				}
			}
		}
		if h, err := gmtextproto.ReadHeader(bufio.NewReader(bytes.NewReader(b))); err == nil && !bytes.Contains(b, []byte("\r\r")) {
			var names, values []string
			for fl := h.Fields(); fl.Next(); {
				names = append(names, fl.Key())
				values = append(values, fl.Value())
			}
			if len(names) != len(ref.names) {
				t.Fatalf("go-message reads %d fields %q, ours %d %q", len(names), names, len(ref.names), ref.names)
			}
			for i := range names {
				sameValue := ref.truncated[i] || // ours holds MaxField of it
					strings.Join(strings.Fields(values[i]), " ") == strings.Join(strings.Fields(ref.values[i]), " ")
				if !strings.EqualFold(names[i], ref.names[i]) || !sameValue {
					t.Errorf("field %d: go-message %q: %.200q, ours %q: %.200q", i, names[i], values[i], ref.names[i], ref.values[i])
				}
			}
		}
	})
}

// FuzzFilter: a Filter that keeps every field gives the input back byte
// for byte (whatever the buffer size or how the reads are cut); one that
// drops or renames fields changes exactly those, as the Scanner reads
// them.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"From x Mon\nX-Spam: yes\nFrom: a@b\n\nbody", "X-Spam-Flag: YES\r\n\tcont\r\nSubject: s\r\n\r\nbody\r\n",
		"no header\nX-Spam: 1\n\n", "X-Spam: " + strings.Repeat("y", MaxField+10) + "\r\n more\r\nA: b\r\n\r\nbody",
		"",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		read := func(r io.Reader) []byte {
			var out []byte
			buf := make([]byte, int(cut)%97+1)
			for {
				n, err := r.Read(buf)
				out = append(out, buf[:n]...)
				if err == io.EOF {
					return out
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, size := range []int{1024, 64 << 10} {
			got := read(NewFilter(bufio.NewReaderSize(bytes.NewReader(b), size), func(Field) Verdict { return Verdict{} }))
			if !bytes.Equal(got, b) {
				t.Fatalf("keep-all filter (buffer %d) changed %q into %q", size, b, got)
			}
		}
		decide := func(fl Field) Verdict {
			switch {
			case fl.Is("X-Spam"):
				return Verdict{Drop: true}
			case fl.Is("Subject"):
				return Verdict{Rename: "Old-Subject"}
			}
			return Verdict{}
		}
		got := read(NewFilter(bufio.NewReaderSize(bytes.NewReader(b), 4096), decide))
		// The same by hand from the Scanner.
		br := bufio.NewReaderSize(bytes.NewReader(b), 4096)
		var want bytes.Buffer
		mbox := bytes.Buffer{}
		if atMboxLine(br) {
			line, _ := br.ReadBytes('\n')
			mbox.Write(line)
		}
		want.Write(mbox.Bytes())
		s := NewScanner(br)
		s.started = true
		{
			for s.Scan() {
				fl := s.Field()
				v := decide(fl)
				if v.Drop {
					continue
				}
				if v.Rename != "" {
					want.WriteString(v.Rename)
					want.Write(fl.Raw[len(fl.Name):])
				} else {
					want.Write(fl.Raw)
				}
				s.CopyRest(&want)
			}
			want.Write(s.Separator())
		}
		rest, _ := io.ReadAll(br)
		want.Write(rest)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("filter made %q, want %q", got, want.Bytes())
		}
		// What it leaves holds no X-Spam field and no Subject field.
		h, _ := Read(bufio.NewReader(bytes.NewReader(got)), 1<<30)
		if h.Has("X-Spam") || h.Has("Subject") {
			t.Fatalf("filtered %q still has a dropped or renamed field", got)
		}
		// EndWithEmptyLine: the copy's header ends at an empty line (or
		// the end), never at text, and it has the same fields.
		fl := NewFilter(bufio.NewReaderSize(bytes.NewReader(b), 4096), func(Field) Verdict { return Verdict{} })
		fl.EndWithEmptyLine = true
		ended := read(fl)
		sc := NewScanner(bufio.NewReader(bytes.NewReader(ended)))
		n := 0
		for sc.Scan() {
			n++
		}
		h0, _ := Read(bufio.NewReader(bytes.NewReader(b)), 1<<30)
		if sc.EndedAtText() || n != len(h0.Fields) {
			t.Fatalf("EndWithEmptyLine made %q of %q: %d fields (want %d), ended at text %v", ended, b, n, len(h0.Fields), sc.EndedAtText())
		}
		// Looking below the header changes nothing in the copy, and
		// finds the From: fields a lax reader would.
		fl = NewFilter(bufio.NewReaderSize(bytes.NewReader(b), 4096), func(Field) Verdict { return Verdict{} })
		fl.EndWithEmptyLine = true
		var below []string
		fl.Below = func(f Field) {
			if v, ok := HiddenFrom(f); ok {
				below = append(below, v)
			}
		}
		if got := read(fl); !bytes.Equal(got, ended) {
			t.Fatalf("Below changed the copy of %q: %q, want %q", b, got, ended)
		}
		lax := NewScanner(bufio.NewReader(bytes.NewReader(b)))
		for lax.Scan() {
		}
		var laxFrom []string
		if lax.Lax() {
			for lax.Scan() {
				if v, ok := HiddenFrom(lax.Field()); ok {
					laxFrom = append(laxFrom, v)
				}
			}
		}
		if strings.Join(below, "\x00") != strings.Join(laxFrom, "\x00") {
			t.Fatalf("Below saw From: fields %q in %q, Lax %q", below, b, laxFrom)
		}
	})
}
