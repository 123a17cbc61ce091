// Package dmarcrpt is the DMARC aggregate report (RFC 7489 §7.2 and its
// Appendix C schema): the XML document, its file name, the rua URIs of a
// DMARC record with their size limits, the authorisation a rua in another
// organisation's domain needs (§7.1), and reading the reports others send
// (XML, gzip or zip, bounded).
//
//	f := &dmarcrpt.Feedback{Metadata: ..., Policy: ..., Records: ...}
//	gz, err := f.Gzip()                        // the attachment
//	got, err := dmarcrpt.Parse(body, max)      // XML, .gz or .zip
//	dests := dmarcrpt.ParseRUA("mailto:d@example.net!10m")
//
// It holds the format only: what ebb records, when it sends and what it
// does with received reports are internal/reports'.
package dmarcrpt

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Feedback is one aggregate report (RFC 7489 Appendix C).
type Feedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version,omitempty"`
	Metadata ReportMetadata  `xml:"report_metadata"`
	Policy   PolicyPublished `xml:"policy_published"`
	Records  []Record        `xml:"record"`
}

// ReportMetadata says who reports, and when.
type ReportMetadata struct {
	OrgName          string    `xml:"org_name"`
	Email            string    `xml:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id"`
	DateRange        DateRange `xml:"date_range"`
	Errors           []string  `xml:"error,omitempty"`
}

// DateRange is the report's period, in seconds since the epoch (UTC).
type DateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

// PolicyPublished is the DMARC record the evaluations were made against.
type PolicyPublished struct {
	Domain string `xml:"domain"`
	ADKIM  string `xml:"adkim,omitempty"` // r, s
	ASPF   string `xml:"aspf,omitempty"`
	P      string `xml:"p"` // none, quarantine, reject
	SP     string `xml:"sp,omitempty"`
	Pct    int    `xml:"pct"`
	FO     string `xml:"fo,omitempty"`
}

// Record is the messages of one row: one source, one set of identifiers
// and verdicts, and how many.
type Record struct {
	Row         Row         `xml:"row"`
	Identifiers Identifiers `xml:"identifiers"`
	AuthResults AuthResults `xml:"auth_results"`
}

// Row is the source address, the count and the evaluated policy.
type Row struct {
	SourceIP        string          `xml:"source_ip"`
	Count           int64           `xml:"count"`
	PolicyEvaluated PolicyEvaluated `xml:"policy_evaluated"`
}

// PolicyEvaluated is what DMARC gave and what the receiver did.
type PolicyEvaluated struct {
	Disposition string   `xml:"disposition"` // none, quarantine, reject
	DKIM        string   `xml:"dkim"`        // pass, fail (aligned)
	SPF         string   `xml:"spf"`         // pass, fail (aligned)
	Reasons     []Reason `xml:"reason,omitempty"`
}

// Reason explains a disposition other than the policy's (RFC 7489
// Appendix C PolicyOverrideType: forwarded, sampled_out,
// trusted_forwarder, mailing_list, local_policy, other).
type Reason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

// Identifiers are the domains of the messages.
type Identifiers struct {
	EnvelopeTo   string `xml:"envelope_to,omitempty"`
	EnvelopeFrom string `xml:"envelope_from"` // minOccurs 1 in the schema: the HELO domain for <>
	HeaderFrom   string `xml:"header_from"`
}

// AuthResults are the underlying DKIM and SPF results, aligned or not.
type AuthResults struct {
	DKIM []DKIMResult `xml:"dkim,omitempty"`
	SPF  []SPFResult  `xml:"spf"`
}

// DKIMResult is one signature's result.
type DKIMResult struct {
	Domain      string `xml:"domain"`
	Selector    string `xml:"selector,omitempty"`
	Result      string `xml:"result"` // none, pass, fail, policy, neutral, temperror, permerror
	HumanResult string `xml:"human_result,omitempty"`
}

// SPFResult is the SPF result of one identity.
type SPFResult struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope,omitempty"` // helo, mfrom
	Result string `xml:"result"`          // none, neutral, pass, fail, softfail, temperror, permerror
}

// XML is the report as a document.
func (f *Feedback) XML() ([]byte, error) {
	c := *f
	if c.Version == "" {
		c.Version = "1.0"
	}
	b, err := xml.MarshalIndent(&c, "", " ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// Gzip is the report's XML, gzipped (RFC 7489 §7.2.1.1: the attachment
// is gzip, application/gzip).
func (f *Feedback) Gzip() ([]byte, error) {
	x, err := f.XML()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(x)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Messages is the number of messages the report counts.
func (f *Feedback) Messages() int64 {
	var n int64
	for _, r := range f.Records {
		n += r.Row.Count
	}
	return n
}

// FileName is the attachment's name (RFC 7489 §7.2.1.1):
// receiver!policy-domain!begin!end!unique-id.xml.gz.
func FileName(receiver, domain string, begin, end time.Time, unique string) string {
	s := fmt.Sprintf("%s!%s!%d!%d", receiver, domain, begin.Unix(), end.Unix())
	if unique != "" {
		s += "!" + unique
	}
	return s + ".xml.gz"
}

// Parse reads a report from r: XML, gzip or zip (the first .xml member),
// at most max bytes uncompressed. A document that is no feedback, or has
// no org_name, report_id or policy domain, is an error.
func Parse(r io.Reader, max int64) (*Feedback, error) {
	br := bufio.NewReader(io.LimitReader(r, max+1))
	head, _ := br.Peek(4)
	var in io.Reader = br
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		in = zr
	case len(head) == 4 && string(head) == "PK\x03\x04":
		b, err := io.ReadAll(br)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > max {
			return nil, fmt.Errorf("the zip file is larger than %d bytes", max)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, fmt.Errorf("zip: %w", err)
		}
		var member *zip.File
		for _, f := range zr.File {
			if strings.HasSuffix(strings.ToLower(f.Name), ".xml") {
				member = f
				break
			}
		}
		if member == nil {
			return nil, errors.New("zip: no .xml file in it")
		}
		rc, err := member.Open()
		if err != nil {
			return nil, fmt.Errorf("zip: %w", err)
		}
		defer rc.Close()
		in = rc
	}
	b, err := io.ReadAll(io.LimitReader(in, max+1))
	if err != nil {
		return nil, fmt.Errorf("read the report: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("the report is larger than %d bytes", max)
	}
	var f Feedback
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a DMARC aggregate report (RFC 7489 Appendix C): %w", err)
	}
	switch {
	case f.Metadata.OrgName == "":
		return nil, errors.New("not a DMARC aggregate report: no org_name")
	case f.Metadata.ReportID == "":
		return nil, errors.New("not a DMARC aggregate report: no report_id")
	case f.Policy.Domain == "":
		return nil, errors.New("not a DMARC aggregate report: no policy_published domain")
	}
	return &f, nil
}

// Destination is one rua URI of a DMARC record: a mailto address and the
// largest report it takes (0: no limit).
type Destination struct {
	Address string
	MaxSize int64
	URI     string // as written
}

// ParseRUA reads a DMARC record's rua= value (RFC 7489 §6.2, §6.4): URIs
// separated by commas, each with an optional "!size" with k, m, g or t.
// Only mailto: is used for aggregate reports by ebb; other schemes and
// addresses that do not parse are left out and said in skipped.
func ParseRUA(rua []string) (dests []Destination, skipped []string) {
	for _, u := range rua {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		uri, size := u, int64(0)
		if i := strings.LastIndexByte(u, '!'); i > 0 {
			n, ok := parseSize(u[i+1:])
			if !ok {
				skipped = append(skipped, u+" (a size limit that does not parse)")
				continue
			}
			uri, size = u[:i], n
		}
		if _, ok := cutPrefixFold(uri, "mailto:"); !ok {
			skipped = append(skipped, u+" (not mailto:)")
			continue
		}
		a, err := envaddr.ParseMailto(uri)
		if err != nil {
			skipped = append(skipped, u+" (not an address)")
			continue
		}
		dests = append(dests, Destination{Address: a.String(), MaxSize: size, URI: u})
	}
	return dests, skipped
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// parseSize reads "10m", "500k", "1g", "2t" or a plain number of bytes.
func parseSize(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}

// AuthorizationName is where a domain outside the policy domain's
// organisation says it takes the policy domain's reports (RFC 7489 §7.1):
// <policy-domain>._report._dmarc.<destination-domain>.
func AuthorizationName(policyDomain, destDomain string) string {
	return strings.TrimSuffix(policyDomain, ".") + "._report._dmarc." + strings.TrimSuffix(destDomain, ".")
}

// Authorizes reports whether the TXT records at AuthorizationName hold the
// authorisation: a record that begins with v=DMARC1 (§7.1).
func Authorizes(txts []string) bool {
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			return true
		}
	}
	return false
}
