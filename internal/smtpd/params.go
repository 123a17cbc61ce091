package smtpd

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MailOptions are the parameters of MAIL FROM that the server offers
// (RFC 5321 §4.1.1.11 mail-parameters), decoded.
type MailOptions struct {
	// Size is SIZE= (RFC 1870), 0 when not given.
	Size int64
	// UTF8 is SMTPUTF8 (RFC 6531 §3.4).
	UTF8 bool
	// Body is BODY= upper case: "7BIT", "8BITMIME" (RFC 6152), or "".
	Body string
	// Ret is RET= upper case: "FULL", "HDRS" (RFC 3461 §4.3), or "".
	Ret string
	// EnvID is ENVID= decoded from xtext (RFC 3461 §4.4).
	EnvID string
	// RequireTLS is REQUIRETLS (RFC 8689 §4.1).
	RequireTLS bool
	// Auth is AUTH= decoded (RFC 4954 §5): "<>" for an unknown submitter,
	// "" when not given. It is not trusted, only kept.
	Auth string
}

// RcptOptions are the parameters of RCPT TO (RFC 3461 §4.1, §4.2).
type RcptOptions struct {
	// Notify is NOTIFY= upper case: ["NEVER"] or some of SUCCESS,
	// FAILURE, DELAY; nil when not given.
	Notify []string
	// ORCPTType is the address type of ORCPT= lower case ("rfc822" or
	// "utf-8"), ORCPT the address decoded.
	ORCPTType string
	ORCPT     string
}

// param is one "KEYWORD[=value]" of MAIL or RCPT (RFC 5321 §4.1.2
// esmtp-param).
type param struct {
	key, value string
	hasValue   bool
}

// parseParams splits the parameters after a path. Keywords are upper
// cased; values are kept as sent.
func parseParams(s string) ([]param, *Reply) {
	var out []param
	for _, f := range strings.Fields(s) {
		k, v, has := strings.Cut(f, "=")
		if !isKeyword(k) || (has && v == "") {
			return nil, &Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Message: fmt.Sprintf("Malformed parameter %q", clipParam(f))}
		}
		out = append(out, param{key: strings.ToUpper(k), value: v, hasValue: has})
	}
	return out, nil
}

// isKeyword is RFC 5321 §4.1.2 esmtp-keyword.
func isKeyword(k string) bool {
	if k == "" || k[0] == '-' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func clipParam(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// badParam is 501 5.5.4 (RFC 3463: invalid command arguments).
func badParam(format string, a ...any) *Reply {
	return &Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Message: fmt.Sprintf(format, a...)}
}

// unknownParam is 555 (RFC 5321 §4.1.1.11: a parameter not recognised or
// not implemented).
func unknownParam(p param) *Reply {
	return &Reply{Code: 555, Enhanced: [3]int{5, 5, 4}, Message: fmt.Sprintf("Parameter %s not supported here", clipParam(p.key))}
}

// noValue refuses a parameter that takes no value but got one.
func noValue(p param) *Reply {
	if p.hasValue {
		return badParam("%s takes no value", p.key)
	}
	return nil
}

// mailOptions decodes the parameters of MAIL FROM as p offers them.
func (p *Protocol) mailOptions(s string) (*MailOptions, *Reply) {
	params, rep := parseParams(s)
	if rep != nil {
		return nil, rep
	}
	o := &MailOptions{}
	for _, pa := range params {
		switch pa.key {
		case "SIZE": // RFC 1870 §6: size-value = 1*20DIGIT
			if !allDigits(pa.value) || len(pa.value) > 20 {
				return nil, badParam("SIZE needs a number of octets")
			}
			n, err := strconv.ParseInt(pa.value, 10, 64)
			if err != nil {
				n = math.MaxInt64 // 20 digits: larger than any limit
			}
			if p.MaxMessageBytes > 0 && n > p.MaxMessageBytes {
				// RFC 1870 §6.1: 552, the message exceeds the fixed maximum.
				return nil, &Reply{Code: 552, Enhanced: [3]int{5, 3, 4},
					Message: fmt.Sprintf("Message too big: the limit is %d octets", p.MaxMessageBytes)}
			}
			o.Size = n
		case "BODY": // RFC 6152 §2
			switch v := strings.ToUpper(pa.value); {
			case v == "8BITMIME" && p.No8BITMIME:
				return nil, &Reply{Code: 555, Enhanced: [3]int{5, 5, 4}, Message: "BODY=8BITMIME is not offered here"}
			case v == "7BIT" || v == "8BITMIME":
				o.Body = v
			case v == "BINARYMIME": // RFC 3030 §3: not offered here
				return nil, &Reply{Code: 555, Enhanced: [3]int{5, 5, 4}, Message: "BODY=BINARYMIME is not offered here"}
			default:
				return nil, badParam("BODY must be 7BIT or 8BITMIME")
			}
		case "SMTPUTF8": // RFC 6531 §3.4
			if p.NoSMTPUTF8 {
				return nil, unknownParam(pa)
			}
			if r := noValue(pa); r != nil {
				return nil, r
			}
			o.UTF8 = true
		case "REQUIRETLS": // RFC 8689 §4.1; the handler decides outside TLS
			if p.NoREQUIRETLS {
				return nil, unknownParam(pa)
			}
			if r := noValue(pa); r != nil {
				return nil, r
			}
			o.RequireTLS = true
		case "RET": // RFC 3461 §4.3
			if p.NoDSN {
				return nil, unknownParam(pa)
			}
			switch v := strings.ToUpper(pa.value); v {
			case "FULL", "HDRS":
				o.Ret = v
			default:
				return nil, badParam("RET must be FULL or HDRS")
			}
		case "ENVID": // RFC 3461 §4.4: xtext, at most 100 characters
			if p.NoDSN {
				return nil, unknownParam(pa)
			}
			v, ok := decodeXtext(pa.value)
			if !ok || v == "" || len(v) > 100 || !printableASCII(v) {
				return nil, badParam("Malformed ENVID")
			}
			o.EnvID = v
		case "AUTH": // RFC 4954 §5: xtext mailbox or <>
			v, ok := decodeXtext(pa.value)
			if !ok || v == "" || !printableASCII(v) {
				return nil, badParam("Malformed AUTH parameter")
			}
			o.Auth = v
		default:
			return nil, unknownParam(pa)
		}
	}
	return o, nil
}

// rcptOptions decodes the parameters of RCPT TO.
func (p *Protocol) rcptOptions(s string) (*RcptOptions, *Reply) {
	params, rep := parseParams(s)
	if rep != nil {
		return nil, rep
	}
	o := &RcptOptions{}
	for _, pa := range params {
		switch pa.key {
		case "NOTIFY": // RFC 3461 §4.1
			if p.NoDSN {
				return nil, unknownParam(pa)
			}
			n, ok := parseNotify(pa.value)
			if !ok {
				return nil, badParam("NOTIFY must be NEVER, or some of SUCCESS, FAILURE, DELAY")
			}
			o.Notify = n
		case "ORCPT": // RFC 3461 §4.2
			if p.NoDSN {
				return nil, unknownParam(pa)
			}
			typ, addr, ok := decodeORCPT(pa.value)
			if !ok {
				return nil, badParam("Malformed ORCPT")
			}
			o.ORCPTType, o.ORCPT = typ, addr
		default:
			return nil, unknownParam(pa)
		}
	}
	return o, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parseNotify reads RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS,
// FAILURE and DELAY without repeats.
func parseNotify(v string) ([]string, bool) {
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(strings.ToUpper(v), ",") {
		switch n {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return nil, false
		}
		if seen[n] {
			return nil, false
		}
		seen[n] = true
		out = append(out, n)
	}
	if seen["NEVER"] && len(out) > 1 {
		return nil, false
	}
	return out, true
}

// decodeXtext decodes RFC 3461 §4 xtext: "+" and two hex digits stand for
// one octet. (Lower-case hex digits are taken too.)
func decodeXtext(s string) (string, bool) {
	if !strings.Contains(s, "+") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), true
}

// decodeORCPT reads "addr-type;xtext" (RFC 3461 §4.2): rfc822 in xtext,
// or utf-8 in the utf-8-addr-xtext or -unitext of RFC 6533 §3.
func decodeORCPT(v string) (typ, addr string, ok bool) {
	t, a, found := strings.Cut(v, ";")
	if !found || t == "" || a == "" {
		return "", "", false
	}
	switch typ = strings.ToLower(t); typ {
	case "rfc822":
		addr, ok = decodeXtext(a)
		ok = ok && addr != "" && printableASCII(addr)
	case "utf-8":
		addr, ok = decodeUTF8AddrText(a)
	default:
		return "", "", false
	}
	if !ok {
		return "", "", false
	}
	return typ, addr, true
}

// decodeUTF8AddrText decodes RFC 6533 §3 utf-8-addr-xtext and
// utf-8-addr-unitext: printable ASCII other than "+", "=", "\" and space
// as itself, UTF-8 as itself (unitext), and "\x{HEX}" for any character
// (EmbeddedUnicodeChar).
func decodeUTF8AddrText(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if !strings.HasPrefix(s[i:], `\x{`) {
				return "", false
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 || end-3 < 2 || end-3 > 6 {
				return "", false
			}
			n, err := strconv.ParseUint(s[i+3:i+end], 16, 32)
			if err != nil || n > utf8.MaxRune || n >= 0xD800 && n <= 0xDFFF {
				return "", false
			}
			b.WriteRune(rune(n))
			i += end + 1
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError {
				return "", false
			}
			b.WriteString(s[i : i+size])
			i += size
		case c <= ' ' || c == '+' || c == '=' || c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), b.Len() > 0
}
