package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// maxReturnedHeaders bounds the original headers a DSN carries.
const maxReturnedHeaders = 64 << 10

// dsnKind is what a DSN reports.
type dsnKind int

const (
	dsnFailure dsnKind = iota
	dsnDelay
)

// bounce sends one DSN for every failed recipient not reported yet, to the
// envelope sender; never to the null sender (RFC 5321 §4.5.5, RFC 3464 §2).
// It reports whether the message changed.
func (q *Queue) bounce(ctx context.Context, m *Message) bool {
	var rcpts []*Recipient
	for _, r := range m.Recipients {
		if r.State == Failed && !r.Notified {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return false
	}
	if m.Envelope.From == "" {
		for _, r := range rcpts {
			r.Notified = true // nobody to tell: <> never gets a DSN
		}
		q.log.Info("no bounce for the null sender", "queue_id", m.ID, "failed", len(rcpts))
		return true
	}
	id, err := q.sendDSN(ctx, m, rcpts, dsnFailure)
	if err != nil {
		q.log.Error("cannot queue a bounce; will retry", "queue_id", m.ID, "err", err)
		return false
	}
	for _, r := range rcpts {
		r.Notified = true
	}
	q.log.Info("bounce queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "failed", len(rcpts))
	return true
}

// delayNotice sends the one delay notice (RFC 3464 Action: delayed) once a
// message has waited queue.delay_notice with recipients still deferred.
func (q *Queue) delayNotice(ctx context.Context, m *Message, now time.Time) bool {
	if q.set.delayNotice <= 0 || m.DelayNotified || m.Envelope.From == "" || now.Sub(m.Arrived) < q.set.delayNotice {
		return false
	}
	var rcpts []*Recipient
	for _, r := range m.Recipients {
		if r.State == Deferred {
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
	return true
}

// sendDSN queues a DSN about rcpts of m, from <> to m's sender.
func (q *Queue) sendDSN(ctx context.Context, m *Message, rcpts []*Recipient, kind dsnKind) (string, error) {
	var buf bytes.Buffer
	if err := writeDSN(&buf, q.set.hostname, m, rcpts, kind, q.now(), q.set.lifetime); err != nil {
		return "", err
	}
	env := &Envelope{
		From:       "",
		Recipients: []string{m.Envelope.From},
		Proto:      "dsn",
	}
	return q.Receive(ctx, env, &buf)
}

// writeDSN renders a delivery status notification: RFC 3464 inside a
// multipart/report (RFC 6522) with a human part, one message/delivery-status
// part and the original headers (text/rfc822-headers).
func writeDSN(w io.Writer, host string, m *Message, rcpts []*Recipient, kind dsnKind, now time.Time, lifetime time.Duration) error {
	boundary := "ebb-" + m.ID + "-" + diag.NewRef()
	var b strings.Builder
	crlf := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	subject := "Undelivered Mail Returned to Sender"
	if kind == dsnDelay {
		subject = "Delayed Mail (still being retried)"
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

	// The human part. It goes to someone outside: it carries what a
	// remote client would see (diag.SMTPReply: public text and a ref),
	// never local paths.
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
	}
	crlf("")
	for _, r := range rcpts {
		code, enh, text := replyOf(r)
		crlf("<%s>: %d %d.%d.%d %s", r.Address, code, enh[0], enh[1], enh[2], text)
	}
	crlf("")

	// RFC 3464 §2.2: per-message fields, then one block per recipient.
	crlf("--%s", boundary)
	crlf("Content-Type: message/delivery-status")
	crlf("")
	crlf("Reporting-MTA: dns; %s", host)
	crlf("X-Ebb-Queue-ID: %s", m.ID)
	if m.Envelope.From != "" {
		crlf("X-Original-Envelope-From: rfc822; %s", m.Envelope.From)
	}
	crlf("Arrival-Date: %s", m.Arrived.Format(time.RFC1123Z))
	for _, r := range rcpts {
		crlf("")
		code, enh, text := replyOf(r)
		crlf("Final-Recipient: rfc822; %s", r.Address) // RFC 3464 §2.3.2
		if kind == dsnDelay {
			crlf("Action: delayed")
		} else {
			crlf("Action: failed")
		}
		crlf("Status: %d.%d.%d", enh[0], enh[1], enh[2]) // RFC 3464 §2.3.4, RFC 3463
		crlf("Diagnostic-Code: smtp; %d %d.%d.%d %s", code, enh[0], enh[1], enh[2], text)
		if !r.Last.IsZero() {
			crlf("Last-Attempt-Date: %s", r.Last.Format(time.RFC1123Z))
		}
		if kind == dsnDelay && !r.Next.IsZero() {
			crlf("Will-Retry-Until: %s", m.Arrived.Add(lifetime).Format(time.RFC1123Z))
		}
	}
	crlf("")

	crlf("--%s", boundary)
	crlf("Content-Type: text/rfc822-headers")
	crlf("Content-Description: Headers of the undelivered message")
	crlf("")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	b.Reset()
	if err := writeOriginalHeaders(w, m); err != nil {
		return err
	}
	crlf("")
	crlf("--%s--", boundary)
	_, err := io.WriteString(w, b.String())
	return err
}

// replyOf is what a recipient's last error says to the outside world.
func replyOf(r *Recipient) (int, [3]int, string) {
	if r.Error == nil {
		return 554, [3]int{5, 0, 0}, "Delivery failed"
	}
	e := *r.Error
	return e.SMTPReply()
}

// writeOriginalHeaders copies the prefix and the header section of the
// spool data file, with CRLF line ends, up to maxReturnedHeaders.
func writeOriginalHeaders(w io.Writer, m *Message) error {
	s, _ := Headers(m)
	s = strings.ReplaceAll(s, "\n", "\r\n")
	_, err := io.WriteString(w, s)
	return err
}

// Headers returns the header section of m as a transport writes it (the
// prefix, then the data file's headers), with LF line ends, up to 64 KiB.
// When the data file cannot be read it returns the prefix and the error.
func Headers(m *Message) (string, error) {
	var hdr bytes.Buffer
	hdr.WriteString(m.Envelope.Prefix)
	f, err := os.Open(m.DataPath)
	if err == nil {
		br := bufio.NewReader(io.LimitReader(f, maxReturnedHeaders))
		for {
			line, rerr := br.ReadString('\n')
			if strings.TrimRight(line, "\r\n") == "" {
				break // end of the header section (or of the file)
			}
			hdr.WriteString(line)
			if rerr != nil {
				break
			}
		}
		f.Close()
	}
	// Drop a partial last line; normalise line ends.
	s := hdr.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i+1]
	} else {
		s = ""
	}
	return strings.ReplaceAll(s, "\r\n", "\n"), err
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
