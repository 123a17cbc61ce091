// Package sieve implements the Sieve mail filtering language (RFC 5228) with
// the extensions Dovecot's Pigeonhole users rely on, so that scripts written
// for Pigeonhole run unchanged.
//
// A script is compiled once (Compile) into an immutable *Script that may be
// run concurrently from many goroutines (Run). Run never delivers anything: it
// returns the list of actions the script asked for and whether the implicit
// keep applies; the caller performs them. When Run returns an error (a runtime
// error or an exceeded limit), the caller must perform the implicit keep: the
// message is never lost because a script misbehaved (RFC 5228 §2.10.6).
//
// Extensions: fileinto, reject, ereject (RFC 5429; the action carries
// Extended so delivery can answer in SMTP), envelope (from, to, auth),
// encoded-character, imap4flags (RFC 5232), copy (RFC 3894), body (RFC 5173:
// :raw, :content, :text; MIME decoded with go-message, each part read up to
// Limits.MaxBodyBytes), variables (RFC 5229), vacation and vacation-seconds
// (RFC 5230, 6131; the RFC 3834 "do not answer" rules are applied and
// reported in Vacation.Skip), relational (RFC 5231) with i;ascii-numeric,
// subaddress (RFC 5233), regex (draft-ietf-sieve-regex; see compileRegex for
// the POSIX ERE vs RE2 gaps), include with return and global (RFC 6609;
// scripts are loaded and compiled at Compile time), date, currentdate and
// index (RFC 5260), mailbox (RFC 5490: mailboxexists, fileinto :create),
// duplicate (RFC 7352), editheader (RFC 5293), spamtest, spamtestplus and
// virustest (RFC 5235; scores come from Runtime), environment (RFC 5183),
// ihave and error (RFC 5463).
//
// Where the RFCs leave room, Pigeonhole 0.5.19 decides: the string test
// defaults to i;octet, invalid header names in tests never match instead of
// failing compilation, a duplicate redirect is ignored, a later store to the
// same mailbox replaces the earlier flags, fileinto "INBOX" is keep, vacation
// periods are raised to one day, and an unknown date part is a false test.
package sieve

import (
	"context"
	"io"
	"time"
)

// Options control compilation.
type Options struct {
	// Extensions lists the extensions a script may require. Nil means
	// DefaultExtensions. Use AllExtensions() for everything this package knows.
	Extensions []string
	// Limits bound what a script may do; zero fields take DefaultLimits' values.
	Limits Limits
	// Include loads scripts named by the include extension (RFC 6609). Nil
	// means every include fails to compile ("include is not configured").
	Include IncludeLoader
	// SubaddressSeparator splits local parts for :user/:detail (RFC 5233).
	// Empty means "+".
	SubaddressSeparator string
	// ProtectedHeaders may not be changed by editheader (RFC 5293 §6). Nil
	// means DefaultProtectedHeaders.
	ProtectedHeaders []string
	// Vacation periods (RFC 5230 §4.1, RFC 6131): shorter :days/:seconds are
	// raised to VacationMinPeriod (default 1 day, as Pigeonhole), longer ones
	// lowered to VacationMaxPeriod (0: no maximum); VacationDefaultPeriod
	// (default 7 days) applies when neither is given.
	VacationMinPeriod     time.Duration
	VacationMaxPeriod     time.Duration
	VacationDefaultPeriod time.Duration
}

// Limits bound a script's resource use. A script that crosses one stops with
// a *RuntimeError naming the limit; the caller then performs implicit keep.
type Limits struct {
	MaxScriptSize   int           // bytes of source per script (default 1 MiB)
	MaxNesting      int           // nested blocks and tests (default 32)
	MaxActions      int           // actions in the result (default 32)
	MaxRedirects    int           // redirect actions (default 4, as Pigeonhole)
	MaxIncludeDepth int           // nested includes (default 10)
	MaxIncludes     int           // distinct included scripts (default 255)
	MaxRegexLen     int           // bytes of one regex pattern (default 1024)
	MaxSteps        int64         // commands+tests+match comparisons per run (default 1,000,000)
	MaxCPUTime      time.Duration // wall time per run on top of ctx (default 10s)
	MaxVariables    int           // variables per scope (default 255)
	MaxVariableSize int           // bytes per variable value (default 4000)
	MaxBodyBytes    int64         // bytes of body text the body test examines (default 8 MiB)
	MaxHeaderEdits  int           // addheader/deleteheader executions (default 64)
}

// DefaultLimits are the limits used for zero fields of Options.Limits.
var DefaultLimits = Limits{
	MaxScriptSize:   1 << 20,
	MaxNesting:      32,
	MaxActions:      32,
	MaxRedirects:    4,
	MaxIncludeDepth: 10,
	MaxIncludes:     255,
	MaxRegexLen:     1024,
	MaxSteps:        1_000_000,
	MaxCPUTime:      10 * time.Second,
	MaxVariables:    255,
	MaxVariableSize: 4000,
	MaxBodyBytes:    8 << 20,
	MaxHeaderEdits:  64,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxScriptSize, d.MaxScriptSize)
	set(&l.MaxNesting, d.MaxNesting)
	set(&l.MaxActions, d.MaxActions)
	set(&l.MaxRedirects, d.MaxRedirects)
	set(&l.MaxIncludeDepth, d.MaxIncludeDepth)
	set(&l.MaxIncludes, d.MaxIncludes)
	set(&l.MaxRegexLen, d.MaxRegexLen)
	set(&l.MaxVariables, d.MaxVariables)
	set(&l.MaxVariableSize, d.MaxVariableSize)
	set(&l.MaxHeaderEdits, d.MaxHeaderEdits)
	if l.MaxSteps <= 0 {
		l.MaxSteps = d.MaxSteps
	}
	if l.MaxCPUTime <= 0 {
		l.MaxCPUTime = d.MaxCPUTime
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	return l
}

// IncludeLocation is where an included script lives (RFC 6609 §3.2).
type IncludeLocation string

const (
	Personal IncludeLocation = "personal"
	Global   IncludeLocation = "global"
)

// IncludeLoader returns the source of an included script. It returns an
// error wrapping fs.ErrNotExist when the script does not exist, so that
// ":optional" includes can be skipped.
type IncludeLoader interface {
	LoadInclude(loc IncludeLocation, name string) ([]byte, error)
}

// IncludeFunc adapts a function to IncludeLoader.
type IncludeFunc func(loc IncludeLocation, name string) ([]byte, error)

func (f IncludeFunc) LoadInclude(loc IncludeLocation, name string) ([]byte, error) {
	return f(loc, name)
}

// HeaderField is one header field as it appears in the message.
type HeaderField struct {
	Name  string // as written, e.g. "Subject"
	Value string // raw value after the colon, folding kept, without the final CRLF
}

// Message is what a script looks at. Implementations must not load a large
// message whole into memory; see NewMessage for the one ebb uses.
type Message interface {
	// Header returns the header fields in their order in the message.
	Header() []HeaderField
	// Body opens the body (the bytes after the blank line that ends the
	// header). Each call returns a fresh reader from the start of the body.
	Body() (io.Reader, error)
	// Size is the size of the whole message in octets (RFC 5228 §5.9).
	Size() int64
}

// Envelope is the SMTP envelope of the delivery being filtered.
type Envelope struct {
	From string // MAIL FROM, "" for the null sender <>
	To   string // the original recipient (RCPT TO)
	Auth string // the authenticated user that submitted the message, if any
}

// DuplicateTracker remembers message ids for the duplicate test (RFC 7352).
// Check reports whether id was already seen under handle within period; when
// it was not, the tracker must remember it only if Commit is later called by
// the caller after successful delivery (see Result.DuplicateMarks). Simple
// trackers may record at Check time.
type DuplicateTracker interface {
	Seen(ctx context.Context, handle, id string, period time.Duration) (bool, error)
}

// VacationStore remembers to whom a vacation response was sent.
type VacationStore interface {
	// Answered reports whether sender got a response for handle within period.
	Answered(ctx context.Context, handle, sender string, period time.Duration) (bool, error)
}

// Runtime carries the optional per-run hooks and facts. The zero value works:
// absent hooks behave as Pigeonhole's sieve-test does without a mail store.
type Runtime struct {
	// Now is the current time for currentdate, vacation and duplicate; zero
	// means time.Now().
	Now time.Time
	// Location is the local time zone for date/currentdate; nil means time.Local.
	Location *time.Location
	// Duplicate tracks seen message ids; nil means nothing is ever a duplicate.
	Duplicate DuplicateTracker
	// Vacation tells whether a sender was already answered; nil means never.
	Vacation VacationStore
	// MailboxExists answers mailboxexists (RFC 5490); nil means only INBOX exists.
	MailboxExists func(name string) bool
	// Environment supplies environment items (RFC 5183) beyond the built-in
	// "name", "version", "domain", "host", "location", "phase".
	Environment map[string]string
	// SpamScore and VirusScore feed spamtest/virustest (RFC 5235): spam 0..10
	// (0 = not tested), virus 0..5 (0 = not tested). SpamPercent feeds
	// spamtest :percent (0..100, -1 = not tested).
	SpamScore   int
	SpamPercent int
	VirusScore  int
	// UserAddresses are the recipient's own addresses for vacation's "is this
	// mail addressed to me" check, in addition to Envelope.To and :addresses.
	UserAddresses []string
	// Trace, when set, receives a line per command, test and match.
	Trace io.Writer
}

// Result is what a run asked for, in order.
type Result struct {
	Actions []Action
	// ImplicitKeep is true when no action cancelled the implicit keep
	// (RFC 5228 §2.10.2); the message then goes to INBOX with ImplicitKeepFlags.
	ImplicitKeep      bool
	ImplicitKeepFlags []string
	// EditedHeader is the header after editheader changes (RFC 5293), in
	// order; nil when the script changed nothing. Delivery writes it in place
	// of the original header.
	EditedHeader []HeaderField
	// DuplicateMarks are the ids the duplicate test (RFC 7352 §3) saw for
	// the first time; the caller records them once delivery succeeded, so
	// that a failed delivery does not make the retry a "duplicate".
	// Pigeonhole's sieve-test prints each as "track duplicate".
	DuplicateMarks []DuplicateMark
}

// DuplicateMark is one id to remember for the duplicate test.
type DuplicateMark struct {
	Handle string
	ID     string
	Period time.Duration
	Last   bool // :last: the period restarts at every occurrence
}

// Action is one of Keep, Discard, FileInto, Redirect, Reject, Vacation,
// AddHeader, DeleteHeader.
type Action interface{ actionName() string }

// Keep stores the message in INBOX.
type Keep struct {
	Flags []string // imap4flags; nil when the script did not use imap4flags
	// Copy is set for fileinto :copy "INBOX": the implicit keep stays (it
	// stores into the same INBOX, so delivery stores once).
	Copy bool
}

// Discard silently drops the message.
type Discard struct{}

// FileInto stores the message in Mailbox.
type FileInto struct {
	Mailbox string
	Flags   []string
	Copy    bool // :copy (RFC 3894): implicit keep is not cancelled
	Create  bool // :create (RFC 5490): create the mailbox when missing
}

// Redirect forwards the message to Address.
type Redirect struct {
	Address string
	Copy    bool
}

// Reject refuses the message (RFC 5429). Extended is true for ereject, which
// should be answered in the SMTP transaction when possible.
type Reject struct {
	Reason   string
	Extended bool
}

// Vacation is an auto-reply (RFC 5230, 6131).
type Vacation struct {
	To        string   // the envelope sender to answer
	From      string   // :from, "" for the recipient's address
	Subject   string   // :subject, "" for "Auto: " + original subject
	Reason    string   // body (or MIME entity when Mime)
	Handle    string   // :handle, or Pigeonhole's derived default
	Seconds   int64    // :days*86400 or :seconds, defaulted and clamped
	Mime      bool     // :mime
	Addresses []string // :addresses
	// Skip is non-empty when the response must not be sent (RFC 5230 §4.5,
	// RFC 3834): "null sender", "auto-submitted", "mailing list",
	// "not addressed to user", "already answered". Pigeonhole's sieve-test
	// still prints the action; delivery must honour Skip.
	Skip string
}

// AddHeader adds a header field (RFC 5293 §4).
type AddHeader struct {
	Name, Value string
	Last        bool
}

// DeleteHeader deletes occurrences of a header field (RFC 5293 §5). Indexes
// lists the 1-based positions (counted among fields of that name, in the
// message as it was at that point) that were deleted.
type DeleteHeader struct {
	Name    string
	Indexes []int
}

func (Keep) actionName() string         { return "keep" }
func (Discard) actionName() string      { return "discard" }
func (FileInto) actionName() string     { return "fileinto" }
func (Redirect) actionName() string     { return "redirect" }
func (Reject) actionName() string       { return "reject" }
func (Vacation) actionName() string     { return "vacation" }
func (AddHeader) actionName() string    { return "addheader" }
func (DeleteHeader) actionName() string { return "deleteheader" }
