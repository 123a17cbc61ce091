// Package dsntest reads delivery status notifications (RFC 3464 in a
// multipart/report, RFC 6522) with a real MIME parser (go-message), for
// the tests of the queue and of the daemon: a DSN they check is one that a
// mail client could read.
package dsntest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Report is one DSN: the header, the human part, the per-message fields,
// one map per recipient (field names in lower case) and the returned
// content (text/rfc822-headers or message/rfc822).
type Report struct {
	Header     message.Header
	Human      string
	PerMessage map[string]string
	Recipients []map[string]string
	Returned   string
	Parts      []string // the content types of the parts, in order
}

// Parse reads raw as a DSN.
func Parse(raw string) (*Report, error) {
	ent, err := message.Read(strings.NewReader(raw))
	if err != nil {
		return nil, err
	}
	r := &Report{Header: ent.Header}
	mt, params, _ := ent.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		return nil, fmt.Errorf("not a DSN: Content-Type %s %v", mt, params)
	}
	mr := ent.MultipartReader()
	if mr == nil {
		return nil, errors.New("not multipart")
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("part: %w", err)
		}
		pt, _, _ := p.Header.ContentType()
		r.Parts = append(r.Parts, pt)
		body, _ := io.ReadAll(p.Body)
		switch pt {
		case "text/plain":
			r.Human = string(body)
		case "message/delivery-status":
			// RFC 3464 §2.1: groups of header-style fields, the first for
			// the message, then one per recipient.
			br := bufio.NewReader(strings.NewReader(string(body)))
			for first := true; ; first = false {
				h, err := textproto.ReadHeader(br)
				if err != nil {
					return nil, fmt.Errorf("delivery-status: %w", err)
				}
				f := map[string]string{}
				for fs := h.Fields(); fs.Next(); {
					f[strings.ToLower(fs.Key())] = fs.Value()
				}
				if len(f) == 0 {
					break
				}
				if first {
					r.PerMessage = f
				} else {
					r.Recipients = append(r.Recipients, f)
				}
			}
		default:
			r.Returned = string(body)
		}
	}
	if r.PerMessage["reporting-mta"] == "" {
		return nil, fmt.Errorf("no Reporting-MTA in %v", r.PerMessage)
	}
	if len(r.Recipients) == 0 {
		return nil, errors.New("no recipient fields")
	}
	return r, nil
}

// Recipient is the block whose Final-Recipient is addr, or nil.
func (r *Report) Recipient(addr string) map[string]string {
	for _, f := range r.Recipients {
		if f["final-recipient"] == "rfc822; "+addr {
			return f
		}
	}
	return nil
}
