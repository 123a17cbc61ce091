package policy

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// MayAuthor checks who a message from a logged-in account says wrote and
// sent it: every address of its From: and Sender: fields (RFC 5322
// §3.6.2) must be one the account may send as (MayWriteAs), and the From:
// must be readable one way only. A From: that readers take differently
// (mailhdr.Authors.Unreadable: a syntax error, two From: fields, a From:
// below a line that ends the header, a bare CR) is refused: another
// reader could show an address no check saw. A message without a From:
// claims nobody and passes.
//
// br is at the start of the message; hidden are the texts of From:
// fields found below a line that ended the header (queue.Message.
// HiddenFrom), which the stored copy holds in its body.
func (s *Senders) MayAuthor(ctx context.Context, account string, br *bufio.Reader, hidden []string) (*Refusal, error) {
	if s.Rule == SenderAny {
		return nil, nil
	}
	var c authorClaims
	sc := mailhdr.NewScanner(br)
	for sc.Scan() {
		c.add(sc.Field())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the header: %w", err)
	}
	return s.judge(ctx, account, &c, hidden)
}

// MayAuthorFields is MayAuthor over the header's fields that name an
// author (mailhdr.NamesAuthor), in their order, as the queue kept them
// while it stored the message (queue.Message.AuthorFields): the same
// verdict, without reading the header again.
func (s *Senders) MayAuthorFields(ctx context.Context, account string, fields []mailhdr.Field, hidden []string) (*Refusal, error) {
	if s.Rule == SenderAny {
		return nil, nil
	}
	var c authorClaims
	for _, f := range fields {
		c.add(f)
	}
	return s.judge(ctx, account, &c, hidden)
}

// authorClaims is what MayAuthor reads in a header, field by field: the
// authors (for what the From: says to every reader), the addresses of
// From: and Sender:, and why the first of them that cannot be read
// cannot.
type authorClaims struct {
	authors    mailhdr.AuthorsScan
	claims     []authorClaim
	unreadable string
}

type authorClaim struct{ field, spec string }

func (c *authorClaims) add(f mailhdr.Field) {
	c.authors.Add(f)
	field := ""
	switch {
	case f.Is("From"):
		field = "From"
	case f.Is("Sender"):
		field = "Sender"
	default:
		return
	}
	list, err := mailhdr.ParseAddressList(f.Value())
	if (err != nil || f.Truncated) && c.unreadable == "" {
		why := "it is longer than a header field may be here"
		if err != nil {
			why = err.Error()
		}
		c.unreadable = fmt.Sprintf("The %s: field cannot be read (%s)", field, why)
	}
	for _, a := range list {
		c.claims = append(c.claims, authorClaim{field, a.Spec()})
	}
}

// judge is MayAuthor's verdict on what c read and the hidden From: texts.
func (s *Senders) judge(ctx context.Context, account string, c *authorClaims, hidden []string) (*Refusal, error) {
	for _, h := range hidden {
		c.authors.AddHidden(h)
	}
	for _, cl := range c.claims {
		if r, err := s.MayWriteAs(ctx, account, cl.field, cl.spec); r != nil || err != nil {
			return r, err
		}
	}
	unreadable := c.unreadable
	a := c.authors.Authors()
	switch {
	case unreadable != "":
	case a.Unreadable != "":
		unreadable = "The From: field cannot be read one way only (" + a.Unreadable + ")"
	case a.Fields > 0 && a.Incomplete != "":
		unreadable = "The From: field cannot be read (" + a.Incomplete + ")"
	default:
		return nil, nil
	}
	return &Refusal{Code: 550, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("%s: write one From: field with your own address (submission.sender_policy = %q)", oneLine(unreadable, 300), s.Rule)}, nil
}

// oneLine is s for a reply line (RFC 5321 §4.5.3.1.5: 512 octets): at
// most max bytes, control characters and invalid UTF-8 shown as "?".
func oneLine(s string, max int) string {
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
