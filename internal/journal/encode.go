package journal

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r to b as one JSON object, byte for byte what
// encoding/json's Marshal makes of it (the same keys in the same order,
// the same omitempty rules and the same escaping: HTML characters, U+2028
// and U+2029 escaped, invalid UTF-8 as U+FFFD), so that every reader of
// the journal (Read, the shared journal's database, any script) reads
// what it always read, and journals already on disk stay as they are.
//
// It is written by hand because the journal is on every message's path:
// with reflection, encoding a record was a third of what the journal cost
// at 1 KiB messages (bench/serve profile, issue 28). encode_test.go holds
// it to json.Marshal, fuzzed.
//
// Only a record's Error (a failure: deferred, failed, refused; never on
// the path of mail that flows) goes through encoding/json.
func AppendJSON(b []byte, r *Record) ([]byte, error) {
	var err error
	b = append(b, `{"t":`...)
	if b, err = appendTime(b, r.Time); err != nil {
		return nil, err
	}
	b = append(b, `,"ev":`...)
	b = appendString(b, r.Event)
	b = append(b, `,"id":`...)
	b = appendString(b, r.QueueID)
	b = appendField(b, `,"ref":`, r.Ref)
	b = appendField(b, `,"stage":`, r.Stage)
	b = appendField(b, `,"reply":`, r.Reply)
	b = appendField(b, `,"from":`, r.From)
	b = appendList(b, `,"to":`, r.To)
	b = appendField(b, `,"msgid":`, r.MessageID)
	b = appendField(b, `,"subject":`, r.Subject)
	b = appendList(b, `,"unshown":`, r.Unshown)
	b = appendInt(b, `,"size":`, r.Size)
	b = appendField(b, `,"client":`, r.Client)
	b = appendField(b, `,"helo":`, r.Helo)
	b = appendField(b, `,"auth":`, r.Auth)
	b = appendField(b, `,"proto":`, r.Proto)
	b = appendField(b, `,"listener":`, r.Listener)
	b = appendField(b, `,"rcpt":`, r.Rcpt)
	b = appendField(b, `,"route":`, r.Route)
	b = appendInt(b, `,"attempt":`, int64(r.Attempt))
	b = appendInt(b, `,"ms":`, r.Millis)
	if !r.Next.IsZero() {
		b = append(b, `,"next":`...)
		if b, err = appendTime(b, r.Next); err != nil {
			return nil, err
		}
	}
	if r.Error != nil {
		e, err := json.Marshal(r.Error)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"error":`...)
		b = append(b, e...)
	}
	b = appendField(b, `,"dsn_id":`, r.DSNID)
	b = appendField(b, `,"detail":`, r.Detail)
	b = appendList(b, `,"files":`, r.Files)
	b = appendInt(b, `,"uid":`, int64(r.UID))
	b = appendField(b, `,"outcome":`, r.Outcome)
	b = appendField(b, `,"checker":`, r.Checker)
	b = appendField(b, `,"verdicts":`, r.Verdicts)
	b = appendField(b, `,"next_id":`, r.NextID)
	b = appendField(b, `,"host":`, r.Host)
	b = appendInt(b, `,"count":`, int64(r.Count))
	if !r.First.IsZero() {
		b = append(b, `,"first":`...)
		if b, err = appendTime(b, r.First); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendTime is time.Time's MarshalJSON without its allocation for the
// times a journal holds (UTC, years 0-9999); any other goes through it.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); t.Location() == time.UTC && y >= 0 && y <= 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	}
	m, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, m...), nil
}

// appendField appends a string field that omitempty leaves out when "".
func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// appendInt appends an integer field that omitempty leaves out when 0.
func appendInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), v, 10)
}

// appendList appends a list of strings that omitempty leaves out when
// empty.
func appendList(b []byte, key string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// plain marks the ASCII bytes a JSON string holds as they are; every
// other one below 0x80 is escaped as encoding/json escapes it (control
// characters, the quote and backslash, and <, > and & for HTML).
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as a JSON string, as encoding/json quotes
// it: runs of plain bytes are copied whole.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
