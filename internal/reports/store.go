package reports

import (
	"context"
	"time"

	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/tlsrpt"
)

// Kinds of report.
const (
	KindTLS   = "tls"
	KindDMARC = "dmarc"
)

// Store keeps what the reports are made of and what became of them. The
// SQLite one (OpenSQLite) is the only one today; shared state on
// PostgreSQL for several hosts is another implementation of this
// interface.
type Store interface {
	// AddTLS and AddDMARC add counts: a record equal to one already kept
	// for its day and domain (all but Count) adds its Count to it.
	AddTLS(ctx context.Context, rs []TLSRecord) error
	AddDMARC(ctx context.Context, rs []DMARCRecord) error
	// Domains are the domains with records of kind on day.
	Domains(ctx context.Context, kind, day string) ([]string, error)
	// Counts are the sessions (tls) or messages (dmarc) recorded on day,
	// per domain.
	Counts(ctx context.Context, kind, day string) (map[string]int64, error)
	// Pending are the (domain, day) pairs with records of kind before day
	// before and no report sent, skipped, failed or being sent (a retry, or
	// a claim, older than an hour is pending again).
	Pending(ctx context.Context, kind, before string, now time.Time) ([]DomainDay, error)
	TLSRecords(ctx context.Context, domain, day string) ([]TLSRecord, error)
	DMARCRecords(ctx context.Context, domain, day string) ([]DMARCRecord, error)
	// Claim marks the report of kind for domain and day as being sent
	// and reports whether this caller got it (false: another process has
	// it, or it is done): two senders never send one report twice. A
	// retry, or a claim older than an hour, can be claimed again; force
	// claims whatever state the report is in (ebb report send --again).
	// now is the caller's clock (the claim's time, and what "an hour"
	// is measured from).
	Claim(ctx context.Context, kind, domain, day string, force bool, now time.Time) (bool, error)
	// Finish records what became of a claimed report.
	Finish(ctx context.Context, s Sent) error
	// SentSince lists the reports finished at or after since, newest first.
	SentSince(ctx context.Context, since time.Time) ([]Sent, error)
	// AddReceived keeps a report that arrived; false when the same report
	// (kind, reporter, id) was kept before.
	AddReceived(ctx context.Context, r Received) (bool, error)
	// ReceivedFor lists the reports of kind about domain ("" for all)
	// whose period ends at or after since.
	ReceivedFor(ctx context.Context, kind, domain string, since time.Time) ([]Received, error)
	// Prune removes what is older than before.
	Prune(ctx context.Context, before time.Time) error
	Close() error
}

// DomainDay is one report to make: a domain and a UTC day (2006-01-02).
type DomainDay struct {
	Domain, Day string
}

// TLSRecord counts outbound TLS sessions of one kind with one domain's MX
// hosts on one UTC day (RFC 8460 §4.4).
type TLSRecord struct {
	Day           string   `json:"-"`
	Domain        string   `json:"-"`
	PolicyType    string   `json:"policy_type"`
	PolicyStrings []string `json:"policy_strings,omitempty"`
	MXHost        []string `json:"mx_host,omitempty"`
	Result        string   `json:"result,omitempty"` // "" for success
	SendingIP     string   `json:"sending_ip,omitempty"`
	ReceivingHost string   `json:"receiving_host,omitempty"`
	ReceivingIP   string   `json:"receiving_ip,omitempty"`
	Detail        string   `json:"detail,omitempty"`
	Count         int64    `json:"-"`
}

// DMARCRecord counts messages judged alike by DMARC on one UTC day: one
// row of an aggregate report (RFC 7489 Appendix C), under the record
// published at Domain.
type DMARCRecord struct {
	Day       string                   `json:"-"`
	Domain    string                   `json:"-"` // policy_published domain: where the record was found
	Published dmarcrpt.PolicyPublished `json:"published"`
	RUA       []string                 `json:"rua,omitempty"`
	Row       dmarcrpt.Record          `json:"row"` // Row.Count unused here
	Count     int64                    `json:"-"`
}

// Sent is what became of one report: sent (to which destinations),
// skipped (the domain asks for none), failed (why), or to be tried again
// (a temporary failure), and when.
type Sent struct {
	Kind, Domain, Day string
	State             string // sent, skipped, failed, retry
	Detail            string
	At                time.Time
}

// Report states.
const (
	StateSent    = "sent"
	StateSkipped = "skipped"
	StateFailed  = "failed"
	StateRetry   = "retry"
	stateClaimed = "claimed"
)

// retryAfter is how long a report that failed temporarily (StateRetry),
// or whose sender stopped half way (a claim never finished), waits before
// it is pending again.
const retryAfter = time.Hour

// Received is a report another organisation sent about a hosted domain.
type Received struct {
	Kind     string
	Reporter string // organization-name / org_name
	ReportID string
	Domain   string // the policy domain it is about
	Begin    time.Time
	End      time.Time
	At       time.Time // when it arrived
	// Authenticated: its message passed DMARC here for the reporter's
	// domain (AuthDomain); an unauthenticated report could be forged.
	Authenticated bool
	AuthDomain    string
	QueueID       string
	// Exactly one of the two, by Kind.
	TLS   *tlsrpt.Report     `json:",omitempty"`
	DMARC *dmarcrpt.Feedback `json:",omitempty"`
}

// DayOf is t's UTC day.
func DayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

// DayBounds are the start and the end of a UTC day.
func DayBounds(day string) (time.Time, time.Time, error) {
	start, err := time.ParseInLocation("2006-01-02", day, time.UTC)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return start, start.Add(24 * time.Hour), nil
}
