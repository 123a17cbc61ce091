package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// State is where one recipient of a queued message stands.
type State string

const (
	// Pending: not tried yet (or requeued); due at once.
	Pending State = "pending"
	// Deferred: tried, failed temporarily; due again at Recipient.Next.
	Deferred State = "deferred"
	// Delivered: done.
	Delivered State = "delivered"
	// Failed: failed permanently or expired; the sender got a DSN (unless <>).
	Failed State = "failed"
)

func (s State) valid() bool {
	switch s {
	case Pending, Deferred, Delivered, Failed:
		return true
	}
	return false
}

// Final reports whether nothing more will be tried for a recipient in s.
func (s State) Final() bool { return s == Delivered || s == Failed }

// Envelope is what a receiver knows about a message besides its data: the
// SMTP envelope (RFC 5321 §2.3.1) and where it came from. It is stored
// with the message (the spool file), so it holds data only: how one
// message is received (its checks, the maker of its prefix) is given
// beside it, in ReceiveOptions.
type Envelope struct {
	// From is the reverse path; "" is the null sender <> (RFC 5321
	// §4.5.5), which never gets a DSN.
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	// Prefix is header text ebb adds (Received:, ...), complete lines
	// ending in CRLF. It is written in front of the data at delivery time,
	// so that the spool data file is written once and never rewritten.
	Prefix string `json:"prefix,omitempty"`

	ClientAddr string `json:"client_addr,omitempty"` // IP:port of the SMTP client
	ClientHelo string `json:"client_helo,omitempty"`
	ClientName string `json:"client_name,omitempty"` // reverse DNS, when known
	AuthUser   string `json:"auth_user,omitempty"`
	// Proto is how it came: ESMTP, ESMTPS, ESMTPSA (RFC 3848), local, dsn.
	Proto     string `json:"proto,omitempty"`
	SessionID string `json:"session_id,omitempty"` // the SMTP connection id, for logs
	BodyType  string `json:"body_type,omitempty"`  // 7BIT, 8BITMIME, BINARYMIME (RFC 6152), as declared
	// EightBit: the data holds bytes above 127, found while it was
	// spooled, whatever BodyType declared (RFC 6152 §3 decides what the
	// relay does with it).
	EightBit bool `json:"eight_bit,omitempty"`
	SMTPUTF8 bool `json:"smtputf8,omitempty"` // RFC 6531
	// Folder, when set, is where local delivery files the message unless
	// the mailbox's Sieve script decides: a check after DATA sets it (DMARC
	// p=quarantine: auth.quarantine_folder).
	Folder string `json:"folder,omitempty"`
	// External: the message came from outside this system (SMTP on port
	// 25, fetched from another server), whatever its From: says. The
	// relay never signs it with a hosted domain's DKIM key: a forged
	// From: of a hosted domain, forwarded to another server (an alias, a
	// Sieve redirect), would pass DKIM and DMARC there with our
	// signature. Receive sets it by ReceiveOptions.Via; copies made from
	// the message (forwards, redirects) keep it.
	External bool `json:"external,omitempty"`

	// DSN parameters as the client gave them (RFC 3461 §4: MAIL RET and
	// ENVID, RCPT NOTIFY and ORCPT) and REQUIRETLS (RFC 8689 §4.1): the
	// DSNs this message causes honour them (dsn.go) and the relay passes
	// them on to a next hop that offers DSN / must offer REQUIRETLS.
	Ret        string `json:"ret,omitempty"`   // FULL or HDRS; "" unspecified (headers are returned)
	EnvID      string `json:"envid,omitempty"` // ENVID, decoded from xtext
	RequireTLS bool   `json:"requiretls,omitempty"`
	// RcptDSN holds NOTIFY and ORCPT by recipient address; a recipient
	// without an entry gave neither (see DSNFor).
	RcptDSN map[string]RecipientDSN `json:"rcpt_dsn,omitempty"`
}

// Recipient is one recipient of a queued message and its delivery state.
type Recipient struct {
	Address  string    `json:"address"`
	State    State     `json:"state"`
	Attempts int       `json:"attempts,omitempty"`
	Last     time.Time `json:"last_attempt,omitzero"`
	// Next is when a deferred recipient is due again.
	Next time.Time `json:"next_attempt,omitzero"`
	// Error is the reason of the last failed attempt, kept as data so that
	// mailq can group recipients by cause and --json can carry its fields.
	Error *diag.Error `json:"error,omitempty"`
	// Notified is set once the sender got a DSN for this recipient's failure.
	Notified bool `json:"notified,omitempty"`
	// Done lists what an earlier attempt already delivered for this
	// recipient (the mailboxes of an alias): a transport skips them on the
	// next attempt, so a partial failure does not deliver twice.
	Done []string `json:"done,omitempty"`
	// Relay is set by the remote transport when a next hop took the
	// recipient (kept like Done): the success DSN says "relayed" and is
	// left to the next hop when it took NOTIFY (dsn.go).
	Relay *Handoff `json:"relay,omitempty"`
	// Reason is Error's full sentence. List fills it for display (mailq
	// --json); the queue does not rely on it.
	Reason string `json:"reason,omitempty"`
}

// Attempt is one delivery attempt to one recipient, kept in the message's
// history for `ebb queue show`.
type Attempt struct {
	Time      time.Time     `json:"time"`
	Recipient string        `json:"recipient"`
	Outcome   State         `json:"outcome"`
	Duration  time.Duration `json:"duration_ns,omitempty"`
	Error     *diag.Error   `json:"error,omitempty"`
}

// maxHistory bounds the attempts kept per message; the oldest go first.
const maxHistory = 100

// envelopeVersion is the format of the envelope file.
const envelopeVersion = 1

// Message is a queued message: its envelope, recipients and history, as
// stored after the data in the spool's message file <id>.q (and in
// <id>.state once it changed).
type Message struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Envelope Envelope  `json:"envelope"`
	Size     int64     `json:"size"` // bytes of data, without the prefix
	Arrived  time.Time `json:"arrived"`
	Held     bool      `json:"held,omitempty"`
	// DelayNotified is set once the sender got the delay notice.
	DelayNotified bool         `json:"delay_notified,omitempty"`
	Recipients    []*Recipient `json:"recipients"`
	History       []Attempt    `json:"history,omitempty"`

	// File is the spool file: the message's data as received (Size
	// bytes, without the prefix), then its envelope. Read the data with
	// OpenData, which stops at Size; transports write Envelope.Prefix
	// first.
	File string `json:"-"`
	// HiddenFrom are the texts of From: fields below a line where the
	// header ended at text (mailhdr.HiddenFrom), found as the data was
	// stored: the stored copy holds them as body (an empty line was
	// written above them), but a reader of the original that reads on
	// would take them for the author, so the checks judge them too. Not
	// kept in the envelope.
	HiddenFrom []string `json:"-"`
	// MessageID and Subject are the header's Message-ID and Subject
	// (unfolded, Subject not decoded), for the journal, and ContentType
	// its (last) Content-Type, for the report intake: read as the data
	// was stored (HeaderSeen). Not kept in the envelope: a message loaded
	// from the spool has HeaderSeen false, and its readers read the file.
	MessageID, Subject, ContentType string `json:"-"`
	HeaderSeen                      bool   `json:"-"`
	// Unshown names the fields of MessageID and Subject that the header
	// holds only past the first 64 KiB of its fields, where they are not
	// read (shownFields): not read, rather than absent.
	Unshown []string `json:"-"`
	// DeliveredTo are the values of the header's Delivered-To fields,
	// read as the data was stored (HeaderSeen), for the loop check at the
	// end of DATA; at most MaxDeliveredTo: a message with more has
	// ManyDeliveredTo, and its reader reads the file.
	DeliveredTo     []string `json:"-"`
	ManyDeliveredTo bool     `json:"-"`
	// AuthorFields are the header's fields that name an author
	// (mailhdr.NamesAuthor: From:, Sender:, and what some reader takes
	// for a From:), in their order, byte for byte as the stored copy
	// holds them, for the sender check (policy.Senders.MayAuthorFields)
	// of a message from a logged-in user (Envelope.AuthUser). Set
	// (AuthorsSeen) only while ReceiveOptions.Check runs, and only where
	// they fit in MaxAuthorFields and 64 KiB and each was read whole;
	// otherwise the check reads the file.
	AuthorFields []mailhdr.Field `json:"-"`
	AuthorsSeen  bool            `json:"-"`

	// state: the envelope has been stored in <id>.state (persist).
	state bool
}

// From is the reverse path ("" for <>).
func (m *Message) From() string { return m.Envelope.From }

// Prefix is the header text to write before the data file's content.
func (m *Message) Prefix() string { return m.Envelope.Prefix }

func (m *Message) recipient(addr string) *Recipient {
	for _, r := range m.Recipients {
		if r.Address == addr {
			return r
		}
	}
	return nil
}

// counts returns how many recipients are in each state.
func (m *Message) counts() map[State]int {
	c := map[State]int{}
	for _, r := range m.Recipients {
		c[r.State]++
	}
	return c
}

func (m *Message) done() bool {
	for _, r := range m.Recipients {
		if !r.State.Final() {
			return false
		}
	}
	return true
}

func (m *Message) addHistory(a Attempt) {
	m.History = append(m.History, a)
	if n := len(m.History); n > maxHistory {
		m.History = append([]Attempt(nil), m.History[n-maxHistory:]...)
	}
}

// clone returns a deep enough copy for readers outside the entry lock.
func (m *Message) clone() *Message {
	c := *m
	c.Envelope.Recipients = append([]string(nil), m.Envelope.Recipients...)
	c.Recipients = make([]*Recipient, len(m.Recipients))
	for i, r := range m.Recipients {
		rc := *r
		c.Recipients[i] = &rc
	}
	c.History = append([]Attempt(nil), m.History...)
	return &c
}

// encodeMessage renders the envelope file.
func encodeMessage(m *Message) ([]byte, error) {
	m.Version = envelopeVersion
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeMessage parses an envelope file and checks that it describes a
// message the queue can work on. It is the one reader of envelope files
// (the daemon at start, mailq, queue show) and is fuzzed (FuzzEnvelope).
func DecodeMessage(data []byte) (*Message, error) {
	var m Message
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if dec.More() {
		return nil, errors.New("envelope: data after the JSON object")
	}
	if m.Version != envelopeVersion {
		return nil, fmt.Errorf("envelope: version %d, want %d", m.Version, envelopeVersion)
	}
	if !ValidID(m.ID) {
		return nil, fmt.Errorf("envelope: invalid queue id %q", m.ID)
	}
	if m.Size < 0 {
		return nil, fmt.Errorf("envelope: negative size %d", m.Size)
	}
	if len(m.Recipients) == 0 {
		return nil, errors.New("envelope: no recipients")
	}
	if m.Arrived.IsZero() {
		return nil, errors.New("envelope: no arrival time")
	}
	seen := map[string]bool{}
	for i, r := range m.Recipients {
		if r == nil {
			return nil, fmt.Errorf("envelope: recipient %d is null", i)
		}
		if r.Address == "" {
			return nil, fmt.Errorf("envelope: recipient %d has no address", i)
		}
		if seen[r.Address] {
			return nil, fmt.Errorf("envelope: recipient %q twice", r.Address)
		}
		seen[r.Address] = true
		if !r.State.valid() {
			return nil, fmt.Errorf("envelope: recipient %q: invalid state %q", r.Address, r.State)
		}
		if r.Attempts < 0 {
			return nil, fmt.Errorf("envelope: recipient %q: negative attempts", r.Address)
		}
	}
	for _, a := range m.History {
		if !a.Outcome.valid() {
			return nil, fmt.Errorf("envelope: history: invalid outcome %q", a.Outcome)
		}
	}
	if strings.ContainsAny(m.Envelope.From, "\r\n") {
		return nil, errors.New("envelope: line break in the sender")
	}
	for _, r := range m.Recipients {
		if strings.ContainsAny(r.Address, "\r\n") {
			return nil, errors.New("envelope: line break in a recipient")
		}
	}
	return &m, nil
}

// ValidID reports whether s has the form of a queue id: 8 to 32 characters
// of 0-9 and A-Z. Ids name files in the spool, so nothing else may pass.
func ValidID(s string) bool {
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
