package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// maxReturnedHeaders bounds the original headers a DSN carries.
const maxReturnedHeaders = 64 << 10

// dsnKind is what a DSN reports (RFC 3464 §2.3.3 Action).
type dsnKind int

const (
	dsnFailure dsnKind = iota
	dsnDelay
	dsnSuccess
)

// bounce sends the DSNs a round calls for, to the envelope sender: one
// failure DSN for every failed recipient not reported yet, and one success
// DSN for every delivered recipient that asked for it (NOTIFY=SUCCESS, RFC
// 3461 §4.1). Never to the null sender (RFC 5321 §4.5.5, RFC 3464 §2): a
// DSN that cannot be delivered is dropped with a log line, so no bounce
// loops. A recipient whose NOTIFY leaves out FAILURE gets no failure DSN.
// It reports whether the message changed.
func (q *Queue) bounce(ctx context.Context, m *Message) bool {
	var failed, succeeded []*Recipient
	changed := false
	for _, r := range m.Recipients {
		if r.Notified {
			continue
		}
		want := m.Envelope.DSNFor(r.Address)
		switch {
		case r.State == Failed && !want.Wants(NotifyFailure):
			r.Notified = true // NOTIFY=NEVER or without FAILURE: the sender said no
			changed = true
			q.log.Info("no bounce: the sender's NOTIFY leaves out FAILURE", "queue_id", m.ID, "rcpt", r.Address,
				"notify", strings.Join(want.Notify, ","))
		case r.State == Failed:
			failed = append(failed, r)
		case r.State == Delivered && want.Wants(NotifySuccess) && (r.Relay == nil || !r.Relay.DSN):
			// RFC 3461 §5.2.2: when the next hop took NOTIFY it reports
			// the success itself; we do only for the hops that did not.
			succeeded = append(succeeded, r)
		}
	}
	if len(failed)+len(succeeded) == 0 {
		return changed
	}
	if m.Envelope.From == "" {
		for _, r := range append(failed, succeeded...) {
			r.Notified = true // nobody to tell: <> never gets a DSN
		}
		if m.Envelope.Proto == "dsn" {
			q.log.Warn("undeliverable DSN dropped: a DSN is sent from <> and never causes another (RFC 5321 §4.5.5)", "queue_id", m.ID,
				"rcpts", rcptList(failed), "err", firstError(failed))
		} else {
			q.log.Info("no bounce for the null sender", "queue_id", m.ID, "failed", len(failed))
		}
		return true
	}
	for _, batch := range []struct {
		kind  dsnKind
		rcpts []*Recipient
	}{{dsnFailure, failed}, {dsnSuccess, succeeded}} {
		if len(batch.rcpts) == 0 {
			continue
		}
		id, err := q.sendDSN(ctx, m, batch.rcpts, batch.kind)
		if err != nil {
			q.log.Error("cannot queue a DSN; will retry", "queue_id", m.ID, "action", batch.kind.action(nil), "err", err)
			continue
		}
		for _, r := range batch.rcpts {
			r.Notified = true
		}
		changed = true
		if batch.kind == dsnFailure {
			q.log.Info("bounce queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "failed", len(batch.rcpts))
			q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: "failure"})
		} else {
			q.log.Info("success DSN queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "delivered", len(batch.rcpts))
			q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: "success"})
		}
	}
	return changed
}

func rcptList(rs []*Recipient) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Address)
	}
	return strings.Join(s, ",")
}

func firstError(rs []*Recipient) string {
	for _, r := range rs {
		if r.Error != nil {
			return r.Error.Sentence()
		}
	}
	return ""
}

// delayNotice sends the one delay notice (RFC 3464 Action: delayed) once a
// message has waited queue.delay_notice with recipients still deferred
// that did not leave DELAY out of their NOTIFY (RFC 3461 §4.1).
func (q *Queue) delayNotice(ctx context.Context, m *Message, now time.Time) bool {
	if q.set.delayNotice <= 0 || m.DelayNotified || m.Envelope.From == "" || now.Sub(m.Arrived) < q.set.delayNotice {
		return false
	}
	var rcpts []*Recipient
	for _, r := range m.Recipients {
		if r.State == Deferred && m.Envelope.DSNFor(r.Address).Wants(NotifyDelay) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return false
	}
	id, err := q.sendDSN(ctx, m, rcpts, dsnDelay)
	if err != nil {
		q.log.Error("cannot queue a delay notice; will retry", "queue_id", m.ID, "err", err)
		return false
	}
	m.DelayNotified = true
	q.log.Info("delay notice queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "deferred", len(rcpts))
	q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: "delay"})
	return true
}

// sendDSN queues a DSN about rcpts of m, from <> to m's sender. The DSN
// streams from the spool file into the new one (RET=FULL returns the whole
// message): memory stays flat for any size.
func (q *Queue) sendDSN(ctx context.Context, m *Message, rcpts []*Recipient, kind dsnKind) (string, error) {
	full := kind == dsnFailure && strings.EqualFold(m.Envelope.Ret, "FULL")
	r, closeData, err := dsnReader(q.set.hostname, m, rcpts, kind, q.now(), q.set.lifetime, full)
	if err != nil {
		return "", err
	}
	defer closeData()
	env := &Envelope{
		From:       "",
		Recipients: []string{m.Envelope.From},
		Proto:      "dsn",
		SMTPUTF8:   m.Envelope.SMTPUTF8,
		// RFC 8689 §5: a non-delivery report of a REQUIRETLS message
		// carries its content, so it travels under REQUIRETLS too.
		RequireTLS: m.Envelope.RequireTLS,
	}
	if full || m.Envelope.SMTPUTF8 {
		env.BodyType = m.Envelope.BodyType
	}
	return q.Receive(ctx, env, r)
}

// action is the RFC 3464 §2.3.3 Action value for a recipient (nil for
// the kind alone).
func (k dsnKind) action(r *Recipient) string {
	switch k {
	case dsnDelay:
		return "delayed"
	case dsnSuccess:
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

// dsnReader renders a delivery status notification: RFC 3464 inside a
// multipart/report (RFC 6522) with a human part, one message/delivery-status
// part (per message, then per recipient: what the remote answered when it
// did, our own diagnosis otherwise) and the original message: its headers
// (text/rfc822-headers), or all of it (message/rfc822) when full (RET=FULL,
// RFC 3461 §4.3), streamed from the spool file.
func dsnReader(host string, m *Message, rcpts []*Recipient, kind dsnKind, now time.Time, lifetime time.Duration, full bool) (io.Reader, func(), error) {
	boundary := "ebb-" + m.ID + "-" + diag.NewRef()
	var b strings.Builder
	crlf := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	subject := "Undelivered Mail Returned to Sender"
	switch kind {
	case dsnDelay:
		subject = "Delayed Mail (still being retried)"
	case dsnSuccess:
		subject = "Successful Mail Delivery Report"
	}
	crlf("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	crlf("To: <%s>", m.Envelope.From)
	crlf("Subject: %s", subject)
	crlf("Date: %s", now.Format(time.RFC1123Z))
	crlf("Message-ID: <%s.%s@%s>", m.ID, strings.ToLower(diag.NewRef()), host)
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
	case dsnFailure:
		crlf("Your message could not be delivered to the recipients below.")
	case dsnDelay:
		crlf("Your message has not been delivered yet to the recipients below.")
		crlf("It is still in the queue and will be retried until %s;", fmtAge(lifetime))
		crlf("you do not need to send it again.")
	case dsnSuccess:
		crlf("Your message was delivered to the recipients below, as you asked.")
	}
	crlf("")
	for _, r := range rcpts {
		crlf("<%s>: %s", r.Address, humanLine(r, kind))
	}
	crlf("")

	// RFC 3464 §2.2: per-message fields, then one block per recipient.
	crlf("--%s", boundary)
	crlf("Content-Type: message/delivery-status")
	crlf("")
	if m.Envelope.EnvID != "" {
		crlf("Original-Envelope-Id: %s", oneLine(m.Envelope.EnvID)) // RFC 3464 §2.2.1
	}
	crlf("Reporting-MTA: dns; %s", host)
	crlf("X-Ebb-Queue-ID: %s", m.ID)
	if m.Envelope.From != "" {
		crlf("X-Original-Envelope-From: rfc822; %s", m.Envelope.From)
	}
	crlf("Arrival-Date: %s", m.Arrived.Format(time.RFC1123Z))
	for _, r := range rcpts {
		crlf("")
		st := statusOf(r, kind)
		if o := m.Envelope.DSNFor(r.Address); o.ORCPT != "" {
			typ := o.ORCPTType
			if typ == "" {
				typ = "rfc822"
			}
			crlf("Original-Recipient: %s; %s", typ, oneLine(o.ORCPT)) // RFC 3464 §2.3.1
		}
		crlf("Final-Recipient: %s; %s", addrType(r.Address), r.Address) // RFC 3464 §2.3.2
		crlf("Action: %s", kind.action(r))
		crlf("Status: %s", st.status) // RFC 3464 §2.3.4, RFC 3463
		if st.remoteMTA != "" {
			crlf("Remote-MTA: dns; %s", st.remoteMTA) // RFC 3464 §2.3.5
		}
		if st.diagnostic != "" {
			crlf("Diagnostic-Code: smtp; %s", st.diagnostic) // RFC 3464 §2.3.6
		}
		if p := tlsPolicyOf(r, kind); p != "" {
			// RFC 3464 §3: an extension field; which TLS policy applied
			// to the next hop (DANE, MTA-STS, opportunistic).
			crlf("X-Ebb-TLS-Policy: %s", oneLine(p))
		}
		if !r.Last.IsZero() {
			crlf("Last-Attempt-Date: %s", r.Last.Format(time.RFC1123Z))
		}
		if kind == dsnDelay && !r.Next.IsZero() {
			crlf("Will-Retry-Until: %s", m.Arrived.Add(lifetime).Format(time.RFC1123Z))
		}
	}
	crlf("")

	crlf("--%s", boundary)
	if full {
		crlf("Content-Type: message/rfc822")
		crlf("Content-Description: Undelivered message")
	} else {
		crlf("Content-Type: text/rfc822-headers")
		crlf("Content-Description: Headers of the %s message", map[dsnKind]string{dsnFailure: "undelivered", dsnDelay: "delayed", dsnSuccess: "delivered"}[kind])
	}
	crlf("")
	head := b.String()
	tail := "\r\n--" + boundary + "--\r\n"
	if !full {
		s, _ := Headers(m)
		s = strings.ReplaceAll(s, "\n", "\r\n")
		return io.MultiReader(strings.NewReader(head), strings.NewReader(s), strings.NewReader(tail)), func() {}, nil
	}
	f, err := m.OpenData()
	if err != nil {
		return nil, nil, fmt.Errorf("open the message to return in the DSN: %w", err)
	}
	return io.MultiReader(strings.NewReader(head), strings.NewReader(m.Envelope.Prefix), f, strings.NewReader(tail)),
		func() { f.Close() }, nil
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
func statusOf(r *Recipient, kind dsnKind) dsnStatus {
	if kind == dsnSuccess {
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
func tlsPolicyOf(r *Recipient, kind dsnKind) string {
	if kind == dsnSuccess {
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
func humanLine(r *Recipient, kind dsnKind) string {
	if kind == dsnSuccess {
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

// Headers returns the header section of m as a transport writes it (the
// prefix, then the data file's header as mailhdr reads it: where it ends
// is every part's rule), with LF line ends, whole fields up to 64 KiB in
// all. When the data file cannot be read it returns the prefix and the
// error.
func Headers(m *Message) (string, error) {
	var hdr bytes.Buffer
	hdr.WriteString(m.Envelope.Prefix)
	f, err := m.OpenData()
	if err == nil {
		br := bufpool.Reader(f)
		s := mailhdr.NewScanner(br)
		for s.Scan() {
			fl := s.Field()
			if fl.Truncated || hdr.Len()+len(fl.Raw) > maxReturnedHeaders {
				break
			}
			hdr.Write(fl.Raw)
		}
		err = s.Err()
		bufpool.PutReader(br)
		f.Close()
	}
	// Drop a partial last line; normalise line ends.
	out := hdr.String()
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		out = ""
	}
	return strings.ReplaceAll(out, "\r\n", "\n"), err
}

// fmtAge renders a duration for people: 3d4h, 2h5m, 40s.
func fmtAge(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		h := (d % (24 * time.Hour)) / time.Hour
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
