// Package msgauth is message authentication: DKIM signing of mail that
// leaves ebb (RFC 6376, RFC 8463), and the checks on mail that arrives from
// outside — SPF (RFC 7208), DKIM verification and DMARC (RFC 7489) — whose
// results go into one Authentication-Results header field (RFC 8601).
//
// It reads the message from the file it was written to once (the spool
// file): the header is read with a bound, the body is streamed through the
// hashes, and nothing of any size is held in memory (principle 3).
//
//	c := &msgauth.Checker{Resolver: dnsresolve.New(cfg), AuthservID: "mx.example.org"}
//	res := c.Check(ctx, msgauth.Input{IP: ip, Helo: helo, MailFrom: from, Path: m.File})
//	hdr := res.Header(c.AuthservID)          // "Authentication-Results: ...\r\n"
//	if res.DMARC.Disposition == msgauth.Reject { /* 550 5.7.1 at end of DATA */ }
//
//	s := &msgauth.Signer{KeyDir: "/var/lib/ebb/dkim"}
//	sig, err := s.Sign(r)                      // "DKIM-Signature: ...\r\n" or ""
//
// DNS trouble never refuses a message: it gives temperror in the header.
// The libraries: emersion/go-msgauth (dkim, authres, dmarc's record
// parser), internal/spf (RFC 7208, ours: docs/auth.md says why),
// golang.org/x/net/publicsuffix for the organizational domain. The DMARC evaluation itself (alignment, p, sp,
// pct) is written here: go-msgauth's dmarc package only parses records, and
// no maintained Go module evaluates them (docs/auth.md).
package msgauth
