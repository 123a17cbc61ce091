package maildir

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/" and no padding.
var mb64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// EncodeUTF7 encodes a mailbox name in IMAP modified UTF-7 (RFC 3501
// §5.1.3), which is how Dovecot names Maildir++ folders on disk.
func EncodeUTF7(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("folder name is not valid UTF-8")
	}
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 0, 2*len(u))
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteByte('&')
		b.WriteString(mb64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String(), nil
}

// DecodeUTF7 decodes an IMAP modified UTF-7 name.
func DecodeUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '&' {
			if c < 0x20 || c > 0x7e {
				return "", errors.New("byte outside printable ASCII in modified UTF-7")
			}
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errors.New("unterminated &... in modified UTF-7")
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mb64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errors.New("bad base64 in modified UTF-7")
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		b.WriteString(string(utf16.Decode(u)))
	}
	return b.String(), nil
}
