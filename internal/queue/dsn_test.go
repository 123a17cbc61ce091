package queue

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// parsedDSN is a DSN as a real MIME parser (go-message) reads it.
type parsedDSN struct {
	subject    string
	human      string
	perMessage map[string]string
	recipients []map[string]string
	headers    string
	returned   string // the message/rfc822 part (RET=FULL)
}

func parseDSN(t *testing.T, raw string) parsedDSN {
	t.Helper()
	ent, err := message.Read(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("parse DSN: %v\n%s", err, raw)
	}
	mt, params, err := ent.Header.ContentType()
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v: %v", mt, params, err)
	}
	if ent.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("no Auto-Submitted: auto-replied")
	}
	var p parsedDSN
	p.subject = ent.Header.Get("Subject")
	mr := ent.MultipartReader()
	if mr == nil {
		t.Fatal("not multipart")
	}
	var types []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := part.Header.ContentType()
		types = append(types, pt)
		body, _ := io.ReadAll(part.Body)
		switch pt {
		case "text/plain":
			p.human = string(body)
		case "message/delivery-status":
			// RFC 3464 §2.1: groups of header-style fields, the first for
			// the message, then one per recipient.
			br := bufio.NewReader(strings.NewReader(string(body)))
			first := true
			for {
				h, err := textproto.ReadHeader(br)
				if err != nil {
					t.Fatalf("delivery-status: %v", err)
				}
				fields := map[string]string{}
				for f := h.Fields(); f.Next(); {
					fields[f.Key()] = f.Value()
				}
				if len(fields) == 0 {
					break
				}
				if first {
					p.perMessage = fields
					first = false
				} else {
					p.recipients = append(p.recipients, fields)
				}
			}
		case "text/rfc822-headers":
			p.headers = string(body)
		case "message/rfc822":
			p.returned = string(body)
		}
	}
	if got := strings.Join(types, ","); got != "text/plain,message/delivery-status,text/rfc822-headers" &&
		got != "text/plain,message/delivery-status,message/rfc822" {
		t.Fatalf("parts %v", types)
	}
	if p.perMessage["Reporting-Mta"] == "" && p.perMessage["Reporting-MTA"] == "" {
		t.Fatalf("no Reporting-MTA in %v", p.perMessage)
	}
	return p
}
