package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/queue"
)

// Notify tells about fetched messages that were skipped (docs/fetch.md,
// "Who is told"): one notice to the mailbox's owner and to the postmaster
// of its domain, queued from the null sender (a notice never causes
// another). The owner can read each message on the server, where it
// stays; the postmaster's copy arrives when the owner's cannot (a full or
// disabled mailbox), and the postmaster can fix what the owner cannot.
func (s *fetchSink) Notify(ctx context.Context, n fetch.Notice) error {
	a := n.Account
	rcpts := []string{a.Mailbox}
	if _, domain, ok := envaddr.Split(a.Mailbox); ok {
		if pm := "postmaster@" + domain; !strings.EqualFold(pm, a.Mailbox) {
			rcpts = append(rcpts, pm)
		}
	}
	msg := s.noticeText(n, rcpts, time.Now())
	env := &queue.Envelope{From: "", Recipients: rcpts, Proto: "local", SessionID: "fetch-notice:" + a.Name}
	_, err := s.q.Receive(ctx, env, strings.NewReader(msg), queue.ReceiveOptions{})
	return err
}

// noticeText is the notice: a plain text message (RFC 5322, RFC 3834's
// Auto-Submitted), one paragraph per message with what it is, why it was
// not delivered, its reference, and how to fetch it again.
func (s *fetchSink) noticeText(n fetch.Notice, rcpts []string, now time.Time) string {
	a := n.Account
	var b strings.Builder
	count := fmt.Sprintf("%d messages", len(n.Messages))
	if len(n.Messages) == 1 {
		count = "A message"
	}
	name := asciiOr(a.Name, "a fetch account")
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", asciiOr(s.hostname, "localhost"))
	fmt.Fprintf(&b, "To: <%s>\r\n", rcpts[0])
	if len(rcpts) > 1 {
		fmt.Fprintf(&b, "Cc: <%s>\r\n", rcpts[1])
	}
	fmt.Fprintf(&b, "Subject: %s from %s stayed on %s: not delivered here\r\n", count, name, asciiOr(a.Host, "the server"))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.fetch-notice@%s>\r\n", strings.ToLower(diag.NewRef()), asciiOr(s.hostname, "localhost"))
	b.WriteString("Auto-Submitted: auto-generated\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	line := func(f string, args ...any) {
		b.WriteString(strings.ReplaceAll(fmt.Sprintf(f, args...), "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	line("ebb fetches mail for <%s> from the remote account %q (%s at %s).", a.Mailbox, a.Name, a.Username, n.Server)
	line("The messages below could not be delivered here. None of them was deleted or")
	line("moved on that server: each is still there, where it can be read.")
	line("")
	for i, m := range n.Messages {
		where := fmt.Sprintf("folder %s, UID %s (UIDVALIDITY %d)", m.Folder, m.UID, m.UIDValidity)
		if a.Protocol == "pop3" {
			where = "UIDL " + m.UID
		}
		line("%d. %s, %s", i+1, where, diag.HumanBytes(uint64(max(m.Size, 0))))
		if m.Summary != "" {
			line("   %s", m.Summary)
		}
		// The public reason only: the notice goes to the mailbox's owner,
		// who gets no local path (principle 1); the story has the rest.
		why := m.Public
		if why == "" {
			why = "not delivered here"
		}
		line("   Why: %s", why)
		id := m.QueueID
		if id == "" {
			id = m.Ref
		}
		if id != "" {
			line("   Story: ebb explain %s", id)
		}
		line("   To fetch it again once the cause is fixed: ebb fetch retry %s %s", a.Name, m.UID)
		line("")
	}
	line("This notice goes to the mailbox's owner and to the postmaster. ebb fetch list")
	line("shows every message of the account that stays on the server.")
	return b.String()
}

// asciiOr is s when it is printable ASCII fit for a header, else alt.
func asciiOr(s, alt string) string {
	if s == "" {
		return alt
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e || r == '<' || r == '>' || r == '"' || r == '\\' {
			return alt
		}
	}
	return s
}
