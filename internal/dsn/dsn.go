// Package dsn writes delivery status notifications: RFC 3464 inside a
// multipart/report (RFC 6522), with a human part, one
// message/delivery-status part and the original message (its header, or
// all of it with RET=FULL, RFC 3461 §4.3). The queue decides when a DSN
// is due and to whom (NOTIFY, the null sender, RFC 3461 §5.2.2); this
// package only writes one from a Report, streaming the returned message so
// that memory stays flat for any size.
//
//	r := dsn.Report{Host: "mx.example.org", Kind: dsn.Failure, QueueID: id, From: sender,
//		Arrived: arrived, Now: time.Now(), Recipients: rcpts, Headers: hdr}
//	q.Receive(ctx, env, r.Reader(), queue.ReceiveOptions{})
//
// Reader cannot fail: what it reads from (Message) is the caller's.
package dsn

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Kind is what a DSN reports (RFC 3464 §2.3.3 Action).
type Kind int

const (
	Failure Kind = iota
	Delay
	Success
)

// Report is one DSN about some recipients of one message.
type Report struct {
	Host string // the reporting MTA (server.hostname)
	Kind Kind
	// QueueID, From (the envelope sender: the DSN's To), EnvID (ENVID)
	// and Arrived are the original message's.
	QueueID string
	From    string
	EnvID   string
	Arrived time.Time
	Now     time.Time
	// Lifetime is how long the queue retries (a delay notice says until
	// when).
	Lifetime   time.Duration
	Recipients []Recipient
	// Headers is the original message's header section (LF or CRLF line
	// ends), returned as text/rfc822-headers when Message is nil.
	Headers string
	// Message, when not nil, is the whole original message, returned as
	// message/rfc822 (RET=FULL), streamed.
	Message io.Reader
}

// Recipient is what a DSN says of one recipient.
type Recipient struct {
	Address string
	// ORCPTType and ORCPT are the original recipient the client gave (RFC
	// 3461 §4.2), quoted in Original-Recipient.
	ORCPTType, ORCPT string
	// Error is why delivery failed or is delayed (with what the remote
	// answered, if one did); nil for a success.
	Error *diag.Error
	// Relay is where a delivered recipient went; nil when delivered here.
	Relay *Relayed
	// Last is the last attempt; Next the next (zero: none).
	Last, Next time.Time
}

// Relayed is the next hop that took a recipient (queue.Handoff).
type Relayed struct {
	Host, IP string
	Reply    string // its reply to the end of data
	// TLS is the session's protocol and cipher ("none" in the clear);
	// Policy the TLS policy it met.
	TLS, Policy string
	// Expanded: an alias here that led to several addresses (RFC 3461
	// §5.2.7.2).
	Expanded bool
}

// Action is the RFC 3464 §2.3.3 Action value for a recipient (nil for
// the kind alone).
func (k Kind) Action(r *Recipient) string {
	switch k {
	case Delay:
		return "delayed"
	case Success:
		switch {
		case r != nil && r.Relay != nil && r.Relay.Expanded:
			return "expanded"
		case r != nil && r.Relay != nil:
			return "relayed"
		}
		return "delivered"
	}
	return "failed"
}

// Reader renders the DSN: RFC 3464 inside a multipart/report (RFC 6522)
// with a human part, one message/delivery-status part (per message, then
// per recipient: what the remote answered when it did, our own diagnosis
// otherwise) and the original message: its headers (text/rfc822-headers),
// or all of it (message/rfc822) when r.Message is set (RET=FULL, RFC 3461
// §4.3), streamed from it.
func (r *Report) Reader() io.Reader {
	host, kind, full := r.Host, r.Kind, r.Message != nil
	boundary := "ebb-" + r.QueueID + "-" + diag.NewRef()
	var b strings.Builder
	crlf := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	subject := "Undelivered Mail Returned to Sender"
	switch kind {
	case Delay:
		subject = "Delayed Mail (still being retried)"
	case Success:
		subject = "Successful Mail Delivery Report"
	}
	crlf("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	crlf("To: <%s>", r.From)
	crlf("Subject: %s", subject)
	crlf("Date: %s", r.Now.Format(time.RFC1123Z))
	crlf("Message-ID: <%s.%s@%s>", r.QueueID, strings.ToLower(diag.NewRef()), host)
	crlf("Auto-Submitted: auto-replied") // RFC 3834 §5
	crlf("MIME-Version: 1.0")
	crlf("Content-Type: multipart/report; report-type=delivery-status;")
	crlf("\tboundary=\"%s\"", boundary)
	crlf("")
	crlf("This is a MIME-encapsulated delivery status notification.")
	crlf("")

	// The human part. It goes to someone outside: it carries what the
	// remote server said, or what a remote client would see of our own
	// trouble (diag.SMTPReply: public text and a ref), never local paths.
	crlf("--%s", boundary)
	crlf("Content-Type: text/plain; charset=utf-8")
	crlf("Content-Transfer-Encoding: 8bit")
	crlf("")
	crlf("This is the mail system at host %s.", host)
	crlf("")
	switch kind {
	case Failure:
		crlf("Your message could not be delivered to the recipients below.")
	case Delay:
		crlf("Your message has not been delivered yet to the recipients below.")
		crlf("It is still in the queue and will be retried until %s;", diag.HumanAge(r.Lifetime))
		crlf("you do not need to send it again.")
	case Success:
		crlf("Your message was delivered to the recipients below, as you asked.")
	}
	crlf("")
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		crlf("<%s>: %s", rc.Address, humanLine(rc, kind))
	}
	crlf("")

	// RFC 3464 §2.2: per-message fields, then one block per recipient.
	crlf("--%s", boundary)
	crlf("Content-Type: message/delivery-status")
	crlf("")
	if r.EnvID != "" {
		crlf("Original-Envelope-Id: %s", oneLine(r.EnvID)) // RFC 3464 §2.2.1
	}
	crlf("Reporting-MTA: dns; %s", host)
	crlf("X-Ebb-Queue-ID: %s", r.QueueID)
	if r.From != "" {
		crlf("X-Original-Envelope-From: rfc822; %s", r.From)
	}
	crlf("Arrival-Date: %s", r.Arrived.Format(time.RFC1123Z))
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		crlf("")
		st := statusOf(rc, kind)
		if rc.ORCPT != "" {
			typ := rc.ORCPTType
			if typ == "" {
				typ = "rfc822"
			}
			crlf("Original-Recipient: %s; %s", typ, oneLine(rc.ORCPT)) // RFC 3464 §2.3.1
		}
		crlf("Final-Recipient: %s; %s", addrType(rc.Address), rc.Address) // RFC 3464 §2.3.2
		crlf("Action: %s", kind.Action(rc))
		crlf("Status: %s", st.status) // RFC 3464 §2.3.4, RFC 3463
		if st.remoteMTA != "" {
			crlf("Remote-MTA: dns; %s", st.remoteMTA) // RFC 3464 §2.3.5
		}
		if st.diagnostic != "" {
			crlf("Diagnostic-Code: smtp; %s", st.diagnostic) // RFC 3464 §2.3.6
		}
		if p := tlsPolicyOf(rc, kind); p != "" {
			// RFC 3464 §3: an extension field; which TLS policy applied
			// to the next hop (DANE, MTA-STS, opportunistic).
			crlf("X-Ebb-TLS-Policy: %s", oneLine(p))
		}
		if !rc.Last.IsZero() {
			crlf("Last-Attempt-Date: %s", rc.Last.Format(time.RFC1123Z))
		}
		if kind == Delay && !rc.Next.IsZero() {
			crlf("Will-Retry-Until: %s", r.Arrived.Add(r.Lifetime).Format(time.RFC1123Z))
		}
	}
	crlf("")

	crlf("--%s", boundary)
	if full {
		crlf("Content-Type: message/rfc822")
		crlf("Content-Description: Undelivered message")
	} else {
		crlf("Content-Type: text/rfc822-headers")
		crlf("Content-Description: Headers of the %s message", map[Kind]string{Failure: "undelivered", Delay: "delayed", Success: "delivered"}[kind])
	}
	crlf("")
	head := b.String()
	tail := "\r\n--" + boundary + "--\r\n"
	if !full {
		s := strings.ReplaceAll(strings.ReplaceAll(r.Headers, "\r\n", "\n"), "\n", "\r\n")
		return io.MultiReader(strings.NewReader(head), strings.NewReader(s), strings.NewReader(tail))
	}
	return io.MultiReader(strings.NewReader(head), r.Message, strings.NewReader(tail))
}

// dsnStatus is what the delivery-status part says of one recipient.
type dsnStatus struct {
	status     string // RFC 3463 x.y.z
	remoteMTA  string // the host that answered, "" when none did
	diagnostic string // "550 5.1.1 text", the remote's reply or ours
}

// statusOf takes the remote's words when the remote said something (RFC
// 3464 §2.3.6: Diagnostic-Code is what the remote MTA sent), and our own
// diagnosis otherwise (a connection refused, DNS, our trouble, expiry).
// Expiry keeps its own status (4.4.7) and quotes the last remote reply.
func statusOf(r *Recipient, kind Kind) dsnStatus {
	if kind == Success {
		st := dsnStatus{status: "2.0.0"}
		if r.Relay != nil {
			st.remoteMTA = r.Relay.Host
			st.diagnostic = oneLine(r.Relay.Reply)
		}
		return st
	}
	if r.Error == nil {
		return dsnStatus{status: "5.0.0", diagnostic: "554 5.0.0 Delivery failed"}
	}
	e := *r.Error
	code, enh, text := e.SMTPReply()
	st := dsnStatus{status: fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2]),
		diagnostic: fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], oneLine(text))}
	rm := e.Remote
	if rm == nil {
		return st
	}
	if mtaInvolved(rm) {
		st.remoteMTA = rm.Host
	}
	if rm.Code == 0 {
		return st // no reply came (connect, TLS): our diagnosis stands
	}
	// RFC 3464 §2.3.6: Diagnostic-Code is what the remote MTA sent, so an
	// enhanced code only when it sent one; the Status field (§2.3.4, which
	// must have one) gets the class of its reply code when it did not.
	renh := rm.Enhanced
	st.diagnostic = fmt.Sprintf("%d %s", rm.Code, oneLine(rm.Text))
	if validEnhanced(renh, rm.Code) {
		st.diagnostic = fmt.Sprintf("%d %s %s", rm.Code, renh, oneLine(rm.Text))
	} else {
		renh = fmt.Sprintf("%d.0.0", rm.Code/100)
	}
	st.diagnostic = strings.TrimSpace(st.diagnostic)
	if e.Op != "expire" {
		st.status = renh
	}
	return st
}

// tlsPolicyOf is the TLS policy the relay met (success: the session's, with
// its TLS) or was under when it failed, for the X-Ebb-TLS-Policy field.
func tlsPolicyOf(r *Recipient, kind Kind) string {
	if kind == Success {
		if r.Relay == nil || r.Relay.Policy == "" {
			return ""
		}
		if r.Relay.TLS != "" && r.Relay.TLS != "none" {
			return r.Relay.Policy + "; " + r.Relay.TLS
		}
		return r.Relay.Policy
	}
	if r.Error != nil && r.Error.Remote != nil && mtaInvolved(r.Error.Remote) {
		return r.Error.Remote.Policy
	}
	return ""
}

// mtaInvolved reports whether a remote MTA took part in the failure: a
// connection to one was tried (its address is known) past the DNS. RFC
// 3464 §2.3.5: Remote-MTA MUST NOT be given when none was involved (null
// MX, NXDOMAIN, an MTA-STS policy that no MX host meets, a suspended
// destination that was not tried).
func mtaInvolved(rm *diag.Remote) bool {
	return rm.Step != "dns" && rm.IP != ""
}

// humanLine is one recipient's line in the human part.
func humanLine(r *Recipient, kind Kind) string {
	if kind == Success {
		if r.Relay != nil && r.Relay.Expanded {
			return "an alias here: expanded to its addresses, which report no success themselves"
		}
		if r.Relay != nil && r.Relay.Host != "" {
			s := fmt.Sprintf("relayed to host %s%s, which does not report delivery itself", r.Relay.Host, bracket(r.Relay.IP))
			if r.Relay.TLS != "" && r.Relay.TLS != "none" {
				s += "; sent over " + r.Relay.TLS
			}
			if r.Relay.Policy != "" {
				s += "; TLS policy: " + r.Relay.Policy
			}
			return s
		}
		return "delivered to the mailbox"
	}
	if r.Error == nil {
		return "554 5.0.0 Delivery failed"
	}
	e := *r.Error
	code, enh, text := e.SMTPReply()
	ours := fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], oneLine(text))
	rm := e.Remote
	if rm == nil || rm.Code == 0 && (rm.Host == "" || !mtaInvolved(rm)) {
		return ours // no MTA took part: ours is the whole story
	}
	step := ""
	if rm.Step != "" {
		step = " (in reply to " + strings.ToUpper(rm.Step) + ")"
	}
	if rm.Code == 0 {
		return fmt.Sprintf("host %s%s%s: %s", rm.Host, bracket(rm.IP), step, ours)
	}
	s := fmt.Sprintf("host %s%s said: %d %s %s%s", rm.Host, bracket(rm.IP), rm.Code, rm.Enhanced, oneLine(rm.Text), step)
	if e.Op == "expire" {
		s = ours + "; the last attempt: " + s
	}
	return strings.ReplaceAll(s, "  ", " ")
}

func bracket(ip string) string {
	if ip == "" {
		return ""
	}
	return "[" + ip + "]"
}

// validEnhanced reports whether s is an RFC 3463 status whose class
// agrees with the reply code.
func validEnhanced(s string, code int) bool {
	var a, b, c int
	if n, err := fmt.Sscanf(s, "%d.%d.%d", &a, &b, &c); n != 3 || err != nil {
		return false
	}
	return a == code/100 && (a == 2 || a == 4 || a == 5) && b >= 0 && b < 1000 && c >= 0 && c < 1000 &&
		s == fmt.Sprintf("%d.%d.%d", a, b, c)
}

// oneLine makes a remote's (possibly multi-line) text fit one header
// field: line breaks become spaces, other control characters go.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return -1
		case r == '\n' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// addrType is the address type of RFC 3464 §2.3.2 (utf-8 per RFC 6533).
func addrType(a string) string {
	for i := 0; i < len(a); i++ {
		if a[i] >= 0x80 {
			return "utf-8"
		}
	}
	return "rfc822"
}
