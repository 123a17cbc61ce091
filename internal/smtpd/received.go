package smtpd

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// received renders the Received header of RFC 5321 §4.4 (syntax in
// §4.4's Time-stamp-line and RFC 5322 §3.6.7):
//
//	Received: from HELO ([IP])
//		by HOST (ebb) with ESMTPS id ID
//		(using TLS1.3 with cipher TLS_AES_128_GCM_SHA256)
//		for <rcpt>; DATE
//
// The protocol names are those of RFC 3848 and RFC 6531 §3.7.3. "for" is
// written only for a single recipient, so that Bcc recipients do not learn
// of each other. The client's name is not looked up in the DNS here (that
// would cost a lookup per connection); the IP literal is what matters.
func received(info *SessionInfo, host, id string, rcpts []string, utf8 bool, now time.Time) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(cleanHelo(info.Helo))
	b.WriteString(" (")
	b.WriteString(ipLiteral(info.RemoteIP))
	b.WriteString(")\r\n\tby ")
	b.WriteString(host)
	b.WriteString(" (ebb) with ")
	b.WriteString(ProtocolName(info, utf8))
	b.WriteString(" id ")
	b.WriteString(id)
	if info.TLS != nil {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)",
			strings.ReplaceAll(tls.VersionName(info.TLS.Version), " ", ""),
			tls.CipherSuiteName(info.TLS.CipherSuite))
	}
	if len(rcpts) == 1 && !strings.ContainsAny(rcpts[0], "\r\n") {
		b.WriteString("\r\n\tfor <")
		b.WriteString(rcpts[0])
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(now.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// ProtocolName is the protocol name of RFC 3848 / RFC 6531 §3.7.3 for the
// Received header and the queue envelope: ESMTP, ESMTPS, ESMTPSA,
// UTF8SMTPS, ...
func ProtocolName(info *SessionInfo, utf8 bool) string {
	p := "ESMTP"
	if utf8 {
		p = "UTF8SMTP"
	}
	if info.TLS != nil {
		p += "S"
	}
	if info.AuthUser != "" {
		p += "A"
	}
	return p
}

// ipLiteral is the address-literal of RFC 5321 §4.1.3.
func ipLiteral(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return "[unknown]"
	}
	if p.To4() != nil {
		return "[" + p.String() + "]"
	}
	return "[IPv6:" + p.String() + "]"
}

// checkHelo refuses a HELO/EHLO name that no header can carry: control
// characters (\x01, ESC sequences, NUL) or invalid UTF-8. RFC 5321 §4.1.1.1
// wants a domain or an address literal; real clients send all sorts of
// names, so anything printable is taken (and cleanHelo makes it safe for
// the Received header), but what could only be stored raw is refused at
// the command (501 5.5.2), as RFC 5321 §4.3.2 allows for a bad argument.
func checkHelo(h string) error {
	if !utf8.ValidString(h) || strings.IndexFunc(h, unicode.IsControl) >= 0 {
		return &Reply{Code: 501, Enhanced: [3]int{5, 5, 2},
			Message: "Bad HELO/EHLO name: control characters or invalid UTF-8 (RFC 5321 4.1.1.1)"}
	}
	return nil
}

// cleanHelo keeps the client's HELO name from breaking the header: only
// printable ASCII without parentheses and backslashes (comment syntax), at
// most 255 octets.
func cleanHelo(h string) string {
	if h == "" {
		return "unknown"
	}
	if len(h) > 255 {
		h = h[:255]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == '\\' || r == ';' {
			return '?'
		}
		return r
	}, h)
}
