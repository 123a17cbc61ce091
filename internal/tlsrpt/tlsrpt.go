// Package tlsrpt is SMTP TLS Reporting (RFC 8460): the aggregate report's
// JSON (§4.4), the _smtp._tls TXT record that says where reports go (§3),
// the report's file name and mail (§5), and reading the reports others
// send (gzip or plain JSON, bounded).
//
//	rec, err := tlsrpt.ParseRecord(txt)   // "v=TLSRPTv1; rua=mailto:tls@example.net"
//	r := &tlsrpt.Report{OrganizationName: "example.org", ...}
//	gz, err := r.Gzip()                    // the attachment or the HTTPS body
//	got, err := tlsrpt.Parse(body)         // gzip or JSON, at most MaxReport bytes
//
// It holds the formats only: what ebb records, when it sends and what it
// does with received reports are internal/reports'.
package tlsrpt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Result types (RFC 8460 §4.3) and policy types (§4.4).
const (
	PolicySTS      = "sts"
	PolicyTLSA     = "tlsa"
	PolicyNoPolicy = "no-policy-found"
)

// ResultTypes are every result type RFC 8460 §4.3 defines.
var ResultTypes = []string{
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
	"validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}

// Report is one aggregate report (RFC 8460 §4.4).
type Report struct {
	OrganizationName string    `json:"organization-name"`
	DateRange        DateRange `json:"date-range"`
	ContactInfo      string    `json:"contact-info"`
	ReportID         string    `json:"report-id"`
	Policies         []Policy  `json:"policies"`
}

// DateRange is the report's period, RFC 3339 date-times.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// Policy is one policy's results.
type Policy struct {
	Policy         PolicyDesc      `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// PolicyDesc describes the policy the sessions were under.
type PolicyDesc struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string,omitempty"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts the sessions.
type Summary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

// FailureDetail is one kind of failure, with how many sessions had it.
type FailureDetail struct {
	ResultType            string `json:"result-type"`
	SendingMTAIP          string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname   string `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           string `json:"receiving-ip,omitempty"`
	FailedSessionCount    int64  `json:"failed-session-count"`
	AdditionalInformation string `json:"additional-information,omitempty"`
	FailureReasonCode     string `json:"failure-reason-code,omitempty"`
}

// MaxReport bounds what Parse reads, compressed and uncompressed: reports
// are a few kilobytes; a report that is more is refused, not read.
const MaxReport = 16 << 20

// Parse reads a report from b: gzip (application/tlsrpt+gzip) or plain
// JSON (application/tlsrpt+json), at most MaxReport bytes uncompressed. A
// report without its required fields is an error.
func Parse(r io.Reader) (*Report, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxReport+1))
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	b, err := io.ReadAll(io.LimitReader(in, MaxReport+1))
	if err != nil {
		return nil, fmt.Errorf("read the report: %w", err)
	}
	if len(b) > MaxReport {
		return nil, fmt.Errorf("the report is larger than %d bytes", MaxReport)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("not a TLS report (RFC 8460 §4.4): %w", err)
	}
	switch {
	case rep.OrganizationName == "":
		return nil, errors.New("not a TLS report: no organization-name")
	case rep.ReportID == "":
		return nil, errors.New("not a TLS report: no report-id")
	case rep.DateRange.Start.IsZero() || rep.DateRange.End.IsZero():
		return nil, errors.New("not a TLS report: no date-range")
	}
	for _, p := range rep.Policies {
		if p.Policy.Type == "" || p.Policy.Domain == "" {
			return nil, errors.New("not a TLS report: a policy without policy-type or policy-domain")
		}
	}
	return &rep, nil
}

// JSON is the report as sent: RFC 3339 times in UTC.
func (r *Report) JSON() ([]byte, error) {
	c := *r
	c.DateRange.Start, c.DateRange.End = c.DateRange.Start.UTC(), c.DateRange.End.UTC()
	if c.Policies == nil {
		c.Policies = []Policy{}
	}
	return json.Marshal(&c)
}

// Gzip is the report's JSON, gzipped (RFC 8460 §5.1: application/tlsrpt+gzip).
func (r *Report) Gzip() ([]byte, error) {
	j, err := r.JSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(j)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Totals are the report's successful and failed sessions, over its
// policies.
func (r *Report) Totals() (success, failure int64) {
	for _, p := range r.Policies {
		success += p.Summary.Success
		failure += p.Summary.Failure
	}
	return success, failure
}

// FileName is the report's file name (RFC 8460 §5.1):
// sender!policy-domain!begin!end!unique-id.json.gz, times in Unix seconds.
func FileName(submitter, domain string, start, end time.Time, unique string) string {
	s := fmt.Sprintf("%s!%s!%d!%d", submitter, domain, start.Unix(), end.Unix())
	if unique != "" {
		s += "!" + unique
	}
	return s + ".json.gz"
}

// Record is a domain's TLSRPT TXT record (RFC 8460 §3): where its reports
// go.
type Record struct {
	RUA []*url.URL // mailto: and https: URIs, in the record's order
}

// ParseRecord reads one TXT record at _smtp._tls.DOMAIN: v=TLSRPTv1
// first, then rua with one or more URIs separated by commas. Other
// fields are ignored (§3: extensions); a URI of another scheme is left
// out; none usable is an error.
func ParseRecord(txt string) (*Record, error) {
	fields := strings.Split(txt, ";")
	if k, v, _ := strings.Cut(strings.TrimSpace(fields[0]), "="); strings.TrimSpace(k) != "v" || strings.TrimSpace(v) != "TLSRPTv1" {
		return nil, errors.New("the record does not begin with v=TLSRPTv1")
	}
	rec := &Record{}
	found := false
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || strings.TrimSpace(k) != "rua" {
			continue
		}
		found = true
		for _, u := range strings.Split(v, ",") {
			// RFC 8460 §3: commas and semicolons inside a URI are
			// percent-encoded, so a comma always separates.
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil {
				continue
			}
			switch strings.ToLower(pu.Scheme) {
			case "mailto":
				if _, err := envaddr.ParseMailto(pu.String()); err != nil {
					continue
				}
			case "https":
				if pu.Host == "" {
					continue
				}
			default:
				continue
			}
			rec.RUA = append(rec.RUA, pu)
		}
	}
	if !found {
		return nil, errors.New("the record has no rua")
	}
	if len(rec.RUA) == 0 {
		return nil, errors.New("no usable rua (mailto: or https:) in the record")
	}
	return rec, nil
}

// SelectRecord picks the one TLSRPT record among a name's TXT records:
// those that begin with v=TLSRPTv1; none, or more than one, is no record
// (RFC 8460 §3).
func SelectRecord(txts []string) (*Record, error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=TLSRPTv1") {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, errors.New("no v=TLSRPTv1 record")
	case 1:
		return ParseRecord(found[0])
	}
	return nil, fmt.Errorf("%d v=TLSRPTv1 records: senders use none of them (RFC 8460 §3)", len(found))
}
