// Package scan judges a received message with spam and virus scanners —
// clamd (zINSTREAM), spamd (SPAMC/1.5), rspamd (HTTP /checkv2) and milters
// (Sendmail milter protocol v6) — and turns their answers into one SMTP
// verdict under an explicit policy, with a coverage header that always says
// what was scanned, what was skipped and why.
//
// Principles it serves: the message is read from the spool file it was
// written to once (never a copy in memory, one path for every size); a
// message over a scanner's size limit is "skipped", never "clean"; a
// scanner that cannot answer gets its configured failure policy (tempfail,
// accept or reject), and a fail-open is stated in the header, the log and
// the metric ebb_scan_unscanned_total{scanner,cause}.
//
//	e := scan.New(scanners, scan.Options{...})
//	rep := e.Scan(ctx, &scan.Message{Path: dataPath, Prefix: received, ...})
//	if rep.Verdict.Refused() { reply rep.Verdict.Code, rep.Verdict.Text }
//	header := rep.Header() // X-Ebb-Scan, X-Spam-*, milter headers; CRLF
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
)

// Kind is what a scanner looks for; it decides which scanners run for
// authenticated submission.
type Kind string

const (
	Virus  Kind = "virus"
	Spam   Kind = "spam"
	Filter Kind = "milter"
)

// Scanner is one scanner client. Scan reads the message from m (each call
// opens the spool file itself, so scanners can run at the same time) and
// always returns a result: a failure is a Result with Status Failed.
type Scanner interface {
	Name() string
	Kind() Kind
	Scan(ctx context.Context, m *Message) *Result
	Ping(ctx context.Context) error
}

// Message is what a scanner is given: the spool file and the envelope.
type Message struct {
	Path   string // the spool data file, exactly as received (CRLF)
	Prefix string // header lines ebb adds in front (Received, Authentication-Results); CRLF
	From   string
	Rcpts  []string
	IP     string // the client's address, "" for local injection
	Helo   string
	Host   string // the client's verified host name, if known
	ID     string // the queue id
	User   string // the SASL login, "" if none

	// Body, when Path is empty, is the message itself: only for the few
	// bytes of a test message (ebb doctor's GTUBE and EICAR), which are
	// never written to a file.
	Body string
}

// Open returns the message as scanners see it, the prefix then the spool
// file, and its size in bytes.
func (m *Message) Open() (io.ReadCloser, int64, error) {
	if m.Path == "" {
		return io.NopCloser(strings.NewReader(m.Prefix + m.Body)), int64(len(m.Prefix) + len(m.Body)), nil
	}
	f, st, err := safeio.OpenStat(m.Path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errSpool, err)
	}
	return readCloser{io.MultiReader(strings.NewReader(m.Prefix), f), f}, st.Size() + int64(len(m.Prefix)), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Size is the size Open would report.
func (m *Message) Size() (int64, error) {
	if m.Path == "" {
		return int64(len(m.Prefix) + len(m.Body)), nil
	}
	st, err := os.Stat(m.Path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errSpool, err)
	}
	return st.Size() + int64(len(m.Prefix)), nil
}

// Status is the outcome of one scanner for one message.
type Status string

const (
	Clean    Status = "clean"    // a virus scanner found nothing
	Ham      Status = "ham"      // a spam scanner scored below its threshold
	IsSpam   Status = "spam"     // at or above the spam threshold (tag, or refuse above reject_score)
	Infected Status = "virus"    // a virus scanner found Virus
	Refuse   Status = "refused"  // a milter, or rspamd's action, refused (Code, Text)
	Defer    Status = "deferred" // soft reject / greylist / milter tempfail
	Skipped  Status = "skipped"  // not scanned on purpose (too big): Cause, Detail
	Failed   Status = "failed"   // could not be scanned: Cause, Err
)

// Cause classes for Skipped and Failed, the label of ebb_scan_unscanned_total.
const (
	CauseSize         = "size"          // over our max_size
	CauseScannerLimit = "scanner_limit" // over the scanner's own limit
	CauseDown         = "down"          // connect failed
	CauseDenied       = "denied"        // connect refused by the socket's permissions (EACCES)
	CauseTimeout      = "timeout"
	CauseProtocol     = "protocol" // an answer we cannot read, or an error reply
	CauseBreaker      = "breaker"  // the circuit breaker is open
	CauseIO           = "io"       // the spool file could not be read
	// CauseScannerSkip: the scanner answered that it skipped its checks
	// on purpose (rspamd's is_skipped, set by its settings module).
	CauseScannerSkip = "scanner_skip"
)

// Result is one scanner's answer.
type Result struct {
	Scanner  string
	Kind     Kind
	Status   Status
	Score    float64 // spam score (spamd, rspamd)
	Required float64 // the scanner's spam threshold
	Symbols  []string
	Virus    string // signature name
	Action   string // rspamd's action or the milter's reply
	Code     int    // a milter's or scanner's own SMTP code, if it gave one
	Text     string // the reply text the scanner suggests
	Headers  []Field
	Hold     string // a milter asked for quarantine, with this reason
	Cause    string
	Detail   string // why skipped or failed, for the header: no local path
	Err      error  // the failure, for the log
	Took     time.Duration
}

// Field is one header field a scanner asks to add.
type Field struct{ Name, Value string }

// errSpool marks a failure to read the message itself (Open, Size, or
// reading it while it is sent): failure makes it CauseIO.
var errSpool = errors.New("reading the spool file")

// failure makes a Failed result from err, classifying its cause.
func failure(r *Result, err error) *Result {
	r.Status, r.Err = Failed, err
	var pe *protocolError
	switch {
	case errors.Is(err, errSpool):
		// Our trouble, not the scanner's: the one sentence for it.
		r.Cause, r.Detail = CauseIO, "cannot read the spool file"
		return r
	case errors.As(err, &pe):
		r.Cause = CauseProtocol
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		r.Cause = CauseTimeout
	case errors.Is(err, errDial) && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)):
		r.Cause = CauseDenied
	case errors.Is(err, errDial):
		r.Cause = CauseDown
	default:
		r.Cause = CauseProtocol
	}
	r.Detail = r.Cause
	return r
}

// protocolError is an answer that does not follow the protocol.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protoErr(format string, a ...any) error { return &protocolError{fmt.Sprintf(format, a...)} }

var errDial = errors.New("cannot connect")

type timeouter interface{ Timeout() bool }

func isTimeout(err error) bool {
	var t timeouter
	return errors.As(err, &t) && t.Timeout()
}
