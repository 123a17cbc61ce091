package mailhdr

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/ebbmail/ebb/internal/bufpool"
)

// MaxAuthorDomains bounds the From: domains one message may name: each is
// a DMARC evaluation (DNS lookups). A message naming more cannot be
// judged (Authors.Incomplete).
const MaxAuthorDomains = 10

// Authors is who a message says wrote it: its From: fields (RFC 5322
// §3.6.2), read once for DMARC (RFC 7489 §6.6.1) and for the DKIM
// signing domain, so that what is judged, what is signed and what the
// reader sees are one reading.
//
// A From: is read strictly (ParseAddressList). When it cannot be, or a
// header line may be taken for a From: field by a laxer reader, every
// domain that can be found in those texts is taken (Unreadable says
// why): DMARC then applies the strictest policy among all of them rather
// than none. What can never be judged (no domain at all, a From: longer
// than MaxField, more than MaxAuthorDomains domains) is Incomplete.
type Authors struct {
	// Fields counts the From: fields.
	Fields int
	// Domains are the author domains, lower case, in A-labels (RFC 5890),
	// without a final dot, each once, in the order they appear.
	Domains []string
	// Unreadable says why the From: could not be read as RFC 5322 writes
	// it ("" when it could): Domains then holds every domain found in it.
	Unreadable string
	// Incomplete says why the domains above may not be all the message
	// names ("" when they are): nothing can be judged on them.
	Incomplete string
}

// ReadAuthors reads the From: fields of the header at br's start (the
// whole header is read, field by field, whatever its size; br is left at
// the body).
func ReadAuthors(br *bufio.Reader) (Authors, error) {
	var a AuthorsScan
	s := NewScanner(br)
	for s.Scan() {
		a.Add(s.Field())
	}
	a.Lax(s)
	return a.Authors(), s.Err()
}

// ReadAuthorsFrom is ReadAuthors over r.
func ReadAuthorsFrom(r io.Reader) (Authors, error) {
	br := bufpool.Reader(r)
	defer bufpool.PutReader(br)
	return ReadAuthors(br)
}

// AuthorsOf is Authors over fields already read.
func AuthorsOf(fields []Field) Authors {
	var a AuthorsScan
	for _, f := range fields {
		a.Add(f)
	}
	return a.Authors()
}

// AuthorsScan gathers Authors while a caller scans a header for more
// than its From: (Add every field the Scanner gives, in order).
type AuthorsScan struct{ b authorsBuilder }

// Add looks at one field.
func (s *AuthorsScan) Add(f Field) { s.b.add(f) }

// Lax reads on with sc, once its header has ended (Scan false), when it
// ended at a line that is no field: a reader that reads past such a line
// takes the lines below it, up to the next empty line, for fields, so a
// From: there is looked at too (its domains count, as Unreadable). sc is
// then left further into the body.
func (s *AuthorsScan) Lax(sc *Scanner) {
	if !sc.Lax() {
		return
	}
	for sc.Scan() {
		if v, ok := HiddenFrom(sc.Field()); ok {
			s.AddHidden(v)
		}
	}
}

// HiddenFrom reports whether f, a field read below where the header
// ended at text (Scanner.Lax, Filter.Below), is a From: field to a reader
// that reads on, and returns its text.
func HiddenFrom(f Field) (string, bool) {
	if f.Is("From") || (f.Name == "" && laxFrom(f.Raw)) {
		return Unfold(string(f.Raw)), true
	}
	return "", false
}

// AddHidden takes the text of a From: field found below where the header
// ended (HiddenFrom): every domain in it counts, as Unreadable. More than
// MaxAuthorDomains of them make the Authors Incomplete.
func (s *AuthorsScan) AddHidden(text string) {
	s.b.hidden++
	if s.b.hidden > MaxAuthorDomains {
		s.b.a.Incomplete = fmt.Sprintf("more than %d From: fields below a line that ends the header", MaxAuthorDomains)
		return
	}
	s.b.unreadable("a From: field below a line that ends the header (readers that read past such a line see it)")
	s.b.lenient(text)
}

// Authors is what the fields added so far say.
func (s *AuthorsScan) Authors() Authors { return s.b.done() }

type authorsBuilder struct {
	hidden int
	a      Authors
	seen   map[string]bool
	why    []string
	hasWhy map[string]bool
}

func (b *authorsBuilder) unreadable(why string) {
	if b.hasWhy == nil {
		b.hasWhy = map[string]bool{}
	}
	if !b.hasWhy[why] {
		b.hasWhy[why] = true
		b.why = append(b.why, why)
	}
}

func (b *authorsBuilder) domain(d string) {
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[d] {
		return
	}
	if len(b.a.Domains) == MaxAuthorDomains {
		b.a.Incomplete = fmt.Sprintf("the From: names more than %d domains", MaxAuthorDomains)
		return
	}
	b.seen[d] = true
	b.a.Domains = append(b.a.Domains, d)
}

func (b *authorsBuilder) add(f Field) {
	switch {
	case f.Is("From"):
		b.a.Fields++
		if f.Truncated {
			b.a.Incomplete = fmt.Sprintf("a From: field is longer than %d bytes", MaxField)
			return
		}
		b.strict(f.Value())
	case f.Name == "" && laxFrom(f.Raw):
		// A line that is no field to us but may be a From: to a laxer
		// reader ("From<NUL>: …", a name followed by more white space
		// than a line holds).
		b.unreadable("a header line that is no field may be read as a From: field")
		b.lenient(Unfold(string(f.Raw)))
	}
	// A bare CR is content to us, a line end to some readers: a "From:"
	// after one is a From: field to them.
	for raw, ok := nextCRFrom(f.Raw); ok; raw, ok = nextCRFrom(raw) {
		b.unreadable("a bare CR in the header starts a From: field for some readers")
		b.lenient(Unfold(string(raw)))
	}
}

// nextCRFrom finds the next bare CR in raw (one no LF follows) that a
// From: field name follows, and returns what follows that CR.
func nextCRFrom(raw []byte) ([]byte, bool) {
	for {
		i := bytes.IndexByte(raw, '\r')
		if i < 0 {
			return nil, false
		}
		raw = raw[i+1:]
		if len(raw) > 0 && raw[0] == '\n' {
			continue
		}
		if n, ok := fieldName(raw); ok && strings.EqualFold(string(n), "From") {
			return raw, true
		}
	}
}

// NamesAuthor reports whether f may say who wrote or sent the message: a
// From: or Sender: field (RFC 5322 §3.6.2), a line that is no field but
// that a laxer reader takes for a From:, or a field in which a bare CR
// starts a From: for some readers. AuthorsScan.Add learns nothing from
// any other field, so a reader of the authors may keep these alone
// (queue.Message.AuthorFields), in their order.
func NamesAuthor(f Field) bool {
	if f.Is("From") || f.Is("Sender") || (f.Name == "" && laxFrom(f.Raw)) {
		return true
	}
	_, ok := nextCRFrom(f.Raw)
	return ok
}

// laxFrom reports whether a line that is no field starts like a From:
// field: "from" and then no character of a field name.
func laxFrom(raw []byte) bool {
	if len(raw) < 5 || !strings.EqualFold(string(raw[:4]), "from") {
		return false
	}
	c := raw[4]
	return c == ':' || c < 33 || c > 126
}

// strict reads one From: value.
func (b *authorsBuilder) strict(v string) {
	list, err := ParseAddressList(v)
	if err != nil {
		b.unreadable("the From: field cannot be parsed (" + err.Error() + ")")
	}
	found := false
	for _, ad := range list {
		if ad.Group != "" {
			b.unreadable("the From: field holds a group (RFC 5322 section 3.6.2 allows mailboxes only)")
		}
		d, ok := normalDomain(ad.Domain)
		if ok && !exactDomain(ad.Domain) {
			b.unreadable("the From: domain " + quoteItem(ad.Domain) + " holds characters no domain name has; it was read as " + d)
		}
		if !ok {
			b.unreadable("the From: domain " + quoteItem(ad.Domain) + " is no domain name")
			b.lenient(ad.Domain)
			continue
		}
		found = true
		b.domain(d)
	}
	if err != nil {
		b.lenient(v)
	} else if !found && len(list) == 0 {
		b.unreadable("the From: field holds no address")
	}
}

// lenient takes every domain that follows an "@" in v, in v as written
// and with its encoded words decoded (RFC 2047), inside quotes too.
func (b *authorsBuilder) lenient(v string) {
	texts := []string{v, DecodeText(v), DecodeText(strings.Map(func(r rune) rune {
		if strings.ContainsRune(`"<>(),;:`, r) {
			return ' '
		}
		return r
	}, v))}
	for _, t := range texts {
		for _, d := range domainsAfterAt(t) {
			if n, ok := normalDomain(d); ok {
				b.domain(n)
			}
		}
	}
}

// domainsAfterAt finds the domain-like text after each "@" in t: labels of
// letters, digits, "-" and any non-ASCII character, joined by dots (white
// space around a dot allowed, as RFC 5322 §4.4 does).
func domainsAfterAt(t string) []string {
	var out []string
	for i := 0; i < len(t); i++ {
		if t[i] != '@' {
			continue
		}
		j := i + 1
		for j < len(t) && (t[j] == ' ' || t[j] == '\t') {
			j++
		}
		var d strings.Builder
		for {
			k := j
			for k < len(t) {
				r, n := utf8.DecodeRuneInString(t[k:])
				if r == '-' || r == '_' || (r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))) || r >= 0x80 {
					if r >= 0x80 && unicode.IsSpace(r) {
						break
					}
					k += n
					continue
				}
				break
			}
			d.WriteString(t[j:k])
			// a dot, perhaps with white space around it
			m := k
			for m < len(t) && (t[m] == ' ' || t[m] == '\t') {
				m++
			}
			if k == j || m >= len(t) || t[m] != '.' {
				break
			}
			m++
			for m < len(t) && (t[m] == ' ' || t[m] == '\t') {
				m++
			}
			d.WriteByte('.')
			j = m
		}
		if s := strings.Trim(d.String(), "."); strings.Contains(s, ".") {
			out = append(out, s)
		}
	}
	return out
}

// normalDomain makes an author domain comparable and fit for a DNS
// query: lower case, no final dot, A-labels (RFC 5890). A domain literal
// or text that is no domain name is not one; a domain in Unicode whose
// only fault is an invisible character (a format character such as
// U+200B) is taken without it, as the reader sees it.
func normalDomain(d string) (string, bool) {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return "", false
	}
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return d, validASCIIDomain(d)
	}
	if a, err := idna.Lookup.ToASCII(d); err == nil && validASCIIDomain(a) {
		return a, true
	}
	visible := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, d)
	if a, err := idna.Lookup.ToASCII(visible); err == nil && validASCIIDomain(a) {
		return a, true
	}
	return "", false
}

// exactDomain reports whether d is a domain name as written (normalDomain
// had nothing to drop): US-ASCII, or Unicode that IDNA takes as it is.
func exactDomain(d string) bool {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			_, err := idna.Lookup.ToASCII(d)
			return err == nil && utf8.ValidString(d)
		}
	}
	return true
}

// validASCIIDomain: labels of letters, digits, "-" and "_" (service
// labels occur), none empty, at most 63 octets, 253 in all.
func validASCIIDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (b *authorsBuilder) done() Authors {
	a := b.a
	a.Unreadable = strings.Join(b.why, "; ")
	switch {
	case a.Incomplete != "":
	case a.Fields == 0:
		a.Incomplete = "the message has no From: field (RFC 5322 section 3.6 requires one)"
	case len(a.Domains) == 0:
		a.Incomplete = "no domain can be read from the From: field"
	}
	if a.Fields > 1 {
		why := fmt.Sprintf("the message has %d From: fields (RFC 5322 section 3.6 allows one)", a.Fields)
		if a.Unreadable == "" {
			a.Unreadable = why
		} else {
			a.Unreadable = why + "; " + a.Unreadable
		}
	}
	return a
}
