// Package srs is the Sender Rewriting Scheme: when ebb forwards a message
// to another host (an alias or a Sieve redirect to a remote address), the
// envelope sender becomes an address of ours, so that the next hop's SPF
// check sees our domain; a bounce to that address is turned back into the
// original sender. It follows the conventions of libsrs2 (and so of
// postsrsd and Mail::SRS), so that addresses one of them made are read by
// the others:
//
//	SRS0=HHHH=TT=orig.example=user@srs.example     (forwarded once)
//	SRS1=HHHH=fwd.example==HHHH=TT=orig.example=user@srs.example
//	                                              (a forward of an SRS0 address of fwd.example)
//
// HHHH is the first four characters of base64(HMAC-SHA1(secret, data)),
// data lower-cased; TT is the day (Unix time / 86400) modulo 1024 in two
// base32 characters. An address is valid for MaxAge after TT.
//
//	s, err := srs.New(srs.Config{Domain: "srs.example", Secrets: secrets})
//	from, err := s.Forward("alice@orig.example")   // SRS0=...@srs.example
//	orig, err := s.Reverse(from)                    // alice@orig.example
//
// Reverse returns ErrNotSRS for an ordinary address, and an *Error saying
// whether the address is forged (hash) or expired (timestamp) otherwise.
package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Config is what a Rewriter needs.
type Config struct {
	// Domain is the domain of the rewritten addresses; mail to it must
	// reach us (its MX) so that bounces come back.
	Domain string
	// Secrets: the first makes new addresses, every one is accepted when
	// reversing (so a secret can be rotated without losing the bounces to
	// addresses made before).
	Secrets []string
	// MaxAge is how long a rewritten address is accepted (default 21 days,
	// postsrsd's; libsrs2's maximum is 1024 days).
	MaxAge time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Rewriter forwards and reverses addresses.
type Rewriter struct {
	domain  string
	secrets [][]byte
	maxAge  int // days
	now     func() time.Time
}

// hashLength is libsrs2's default hash length.
const hashLength = 4

// Timestamp: days in two base32 characters (libsrs2 SRS_TIME_*).
const (
	timeBaseChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	timePrecision = 24 * 60 * 60
	timeSlots     = 1024 // 32 * 32
)

// New checks cfg and returns a Rewriter.
func New(cfg Config) (*Rewriter, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(cfg.Domain)), ".")
	if d == "" || strings.ContainsAny(d, "@ \t\r\n=") {
		return nil, fmt.Errorf("srs: the domain %q is not a domain name", cfg.Domain)
	}
	r := &Rewriter{domain: d, now: cfg.Now}
	for _, s := range cfg.Secrets {
		if s != "" {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	if len(r.secrets) == 0 {
		return nil, errors.New("srs: no secret")
	}
	age := cfg.MaxAge
	if age <= 0 {
		age = 21 * 24 * time.Hour
	}
	r.maxAge = int((age + timePrecision*time.Second - 1) / (timePrecision * time.Second))
	if r.maxAge >= timeSlots {
		r.maxAge = timeSlots - 1 // the timestamp wraps after 1024 days
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Domain is the domain of rewritten addresses.
func (r *Rewriter) Domain() string { return r.domain }

// ErrNotSRS is Reverse's answer for an address that is not an SRS address.
var ErrNotSRS = errors.New("srs: not an SRS address")

// Error says why an SRS address is refused.
type Error struct {
	Address string
	Expired bool // the timestamp is too old (or from the future)
	Reason  string
}

func (e *Error) Error() string { return fmt.Sprintf("srs: %s: %s", e.Address, e.Reason) }

// Forward rewrites the envelope sender addr for a forward through us. The
// null sender and addresses already in our SRS domain stay as they are.
func (r *Rewriter) Forward(addr string) (string, error) {
	if addr == "" {
		return "", nil // <> stays <> (RFC 5321 §4.5.5)
	}
	local, domain, ok := split(addr)
	if !ok {
		return "", fmt.Errorf("srs: cannot rewrite %q: no local@domain", addr)
	}
	if strings.EqualFold(domain, r.domain) {
		return addr, nil
	}
	if tag, sep, rest, ok := srsTag(local); ok {
		switch tag {
		case "SRS0":
			// A forward of someone's SRS0 address becomes SRS1: it names
			// that forwarder and keeps its part as it is, so the bounce
			// goes back through it (libsrs2 srs_compile_guarded).
			user := sep + rest
			return r.srs1(domain, user), nil
		case "SRS1":
			// Already SRS1: keep the first forwarder and its part, sign
			// anew for our domain.
			p := strings.SplitN(rest, "=", 3)
			if len(p) == 3 && p[1] != "" {
				return r.srs1(p[1], p[2]), nil
			}
		}
	}
	ts := r.timestamp()
	h := r.hash(r.secrets[0], ts, domain, local)
	return "SRS0=" + h + "=" + ts + "=" + domain + "=" + local + "@" + r.domain, nil
}

func (r *Rewriter) srs1(host, user string) string {
	h := r.hash(r.secrets[0], host, user)
	return "SRS1=" + h + "=" + host + "=" + user + "@" + r.domain
}

// IsSRS reports whether addr looks like an SRS address of our domain (it
// may still be forged).
func (r *Rewriter) IsSRS(addr string) bool {
	local, domain, ok := split(addr)
	if !ok || !strings.EqualFold(domain, r.domain) {
		return false
	}
	_, _, _, ok = srsTag(local)
	return ok
}

// Reverse turns an SRS address of our domain back into the address it
// stands for: the original sender for SRS0, the first forwarder's SRS0
// address for SRS1. It returns ErrNotSRS for any other address, and an
// *Error for a forged or expired one.
func (r *Rewriter) Reverse(addr string) (string, error) {
	local, domain, ok := split(addr)
	if !ok || !strings.EqualFold(domain, r.domain) {
		return "", ErrNotSRS
	}
	tag, _, rest, ok := srsTag(local)
	if !ok {
		return "", ErrNotSRS
	}
	switch tag {
	case "SRS0":
		p := strings.SplitN(rest, "=", 4)
		if len(p) != 4 || p[2] == "" || p[3] == "" {
			return "", &Error{Address: addr, Reason: "malformed SRS0 address"}
		}
		h, ts, odomain, olocal := p[0], p[1], p[2], p[3]
		if !r.checkHash(h, ts, odomain, olocal) {
			return "", &Error{Address: addr, Reason: "the hash does not match: forged, or made with another secret"}
		}
		if err := r.checkTimestamp(ts); err != "" {
			return "", &Error{Address: addr, Expired: true, Reason: err}
		}
		return olocal + "@" + odomain, nil
	case "SRS1":
		p := strings.SplitN(rest, "=", 3)
		if len(p) != 3 || p[1] == "" || p[2] == "" {
			return "", &Error{Address: addr, Reason: "malformed SRS1 address"}
		}
		h, host, user := p[0], p[1], p[2]
		if !r.checkHash(h, host, user) {
			return "", &Error{Address: addr, Reason: "the hash does not match: forged, or made with another secret"}
		}
		return "SRS0" + user + "@" + host, nil
	}
	return "", ErrNotSRS
}

// srsTag splits "SRS0=rest" (any of the separators = - +, case-insensitive
// tag) into the tag, the separator and the rest.
func srsTag(local string) (tag, sep, rest string, ok bool) {
	if len(local) < 5 {
		return "", "", "", false
	}
	t := strings.ToUpper(local[:4])
	if t != "SRS0" && t != "SRS1" {
		return "", "", "", false
	}
	switch local[4] {
	case '=', '-', '+':
	default:
		return "", "", "", false
	}
	return t, local[4:5], local[5:], true
}

// split is envaddr.Split for an address with a local part.
func split(addr string) (local, domain string, ok bool) {
	local, domain, ok = envaddr.Split(addr)
	return local, domain, ok && local != ""
}

// hash is libsrs2's srs_hash_create: HMAC-SHA1 over the lower-cased data,
// base64, the first hashLength characters.
func (r *Rewriter) hash(secret []byte, data ...string) string {
	m := hmac.New(sha1.New, secret)
	for _, d := range data {
		m.Write([]byte(strings.ToLower(d)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLength]
}

// checkHash accepts a hash made with any of the secrets. Like libsrs2 it
// compares case-insensitively: some MTAs lower-case local parts on the way.
func (r *Rewriter) checkHash(h string, data ...string) bool {
	if len(h) != hashLength {
		return false
	}
	for _, s := range r.secrets {
		want := r.hash(s, data...)
		if hmac.Equal([]byte(want), []byte(h)) || strings.EqualFold(want, h) {
			return true
		}
	}
	return false
}

func (r *Rewriter) day() int {
	return int(r.now().Unix()/timePrecision) % timeSlots
}

func (r *Rewriter) timestamp() string {
	d := r.day()
	return string([]byte{timeBaseChars[(d>>5)&31], timeBaseChars[d&31]})
}

// checkTimestamp returns why ts is not acceptable, or "".
func (r *Rewriter) checkTimestamp(ts string) string {
	if len(ts) != 2 {
		return "malformed timestamp"
	}
	then := 0
	for _, c := range strings.ToUpper(ts) {
		i := strings.IndexRune(timeBaseChars, c)
		if i < 0 {
			return "malformed timestamp"
		}
		then = then<<5 | i
	}
	now := r.day()
	// The day count wraps at 1024: a timestamp "after" today is from
	// the previous cycle (libsrs2 srs_timestamp_check).
	if then > now {
		now += timeSlots
	}
	if age := now - then; age > r.maxAge {
		return fmt.Sprintf("expired: made %d days ago, valid for %d (srs.max_age)", age, r.maxAge)
	}
	return ""
}
