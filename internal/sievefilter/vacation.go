package sievefilter

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/sieve"
)

// vacationReply builds the response message (RFC 5230 §5, RFC 3834 §3).
// from is the recipient's address used when the script gave no :from.
func vacationReply(v sieve.Vacation, orig []sieve.HeaderField, from, hostname string, now time.Time) []byte {
	get := func(name string) string {
		for _, h := range orig {
			if strings.EqualFold(h.Name, name) {
				return mailhdr.Unfold(h.Value)
			}
		}
		return ""
	}
	subject := v.Subject
	if subject == "" {
		// RFC 5230 §5.5: "Auto:" and the original subject, decoded
		// (mailhdr: every charset, as the header test decodes it).
		subject = "Auto: " + mailhdr.DecodeText(get("Subject"))
	}
	sender := v.From
	if sender == "" {
		sender = from
	}
	var b strings.Builder
	eol := "\r\n"
	fmt.Fprintf(&b, "Date: %s%s", now.Format(time.RFC1123Z), eol)
	fmt.Fprintf(&b, "From: %s%s", sender, eol)
	fmt.Fprintf(&b, "To: <%s>%s", v.To, eol)
	fmt.Fprintf(&b, "Subject: %s%s", mime.QEncoding.Encode("utf-8", subject), eol)
	fmt.Fprintf(&b, "Message-ID: <%s.vacation@%s>%s", randomID(), hostname, eol)
	// RFC 3834 §3.1.3 and §3.1.7: thread the reply and mark it automatic,
	// so that other responders do not answer it.
	if id := get("Message-ID"); id != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s%s", id, eol)
		refs := get("References")
		if refs == "" {
			refs = get("In-Reply-To")
		}
		fmt.Fprintf(&b, "References: %s%s", strings.TrimSpace(refs+" "+id), eol)
	}
	fmt.Fprintf(&b, "Auto-Submitted: auto-replied (vacation)%s", eol)
	fmt.Fprintf(&b, "Precedence: bulk%s", eol)
	b.WriteString("MIME-Version: 1.0" + eol)
	reason := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", eol)
	if v.Mime {
		// :mime: the reason is a MIME entity, its own header included.
		b.WriteString(reason)
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8" + eol)
		b.WriteString("Content-Transfer-Encoding: 8bit" + eol + eol)
		b.WriteString(reason)
	}
	if !strings.HasSuffix(b.String(), eol) {
		b.WriteString(eol)
	}
	return []byte(b.String())
}

func randomID() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}
