package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxPolicySize bounds the policy body read over HTTPS (RFC 8461 §3.3 lets
// senders limit it; 64 KiB is far beyond any real policy).
const MaxPolicySize = 64 << 10

// maxMaxAge is RFC 8461 §3.2's upper bound for max_age: 31557600 seconds.
const maxMaxAge = 31557600

// ParsePolicy reads a policy body (RFC 8461 §3.2): "key: value" lines,
// CRLF (or LF) separated. version must be STSv1; mode one of enforce,
// testing, none; max_age a number of seconds up to 31557600; mx, which may
// repeat, is required unless mode is none. Unknown keys are ignored (§3.2:
// for extensions); of a repeated single-valued key the first counts.
func ParsePolicy(body string) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not key: value", n+1, line)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if k == "mx" {
			if !validPattern(v) {
				return nil, fmt.Errorf("line %d: mx %q is not a host name or *.pattern", n+1, v)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("version %q, want STSv1", v)
			}
		case "mode":
			switch Mode(v) {
			case Enforce, Testing, None:
				p.Mode = Mode(v)
			default:
				return nil, fmt.Errorf("mode %q is not enforce, testing or none", v)
			}
		case "max_age":
			if v == "" || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
				return nil, fmt.Errorf("max_age %q is not a number of seconds", v)
			}
			s, err := strconv.ParseInt(v, 10, 64)
			if err != nil || s > maxMaxAge {
				return nil, fmt.Errorf("max_age %q is more than %d seconds", v, maxMaxAge)
			}
			p.MaxAge = time.Duration(s) * time.Second
		}
	}
	switch {
	case !seen["version"]:
		return nil, errors.New("no version field")
	case p.Mode == "":
		return nil, errors.New("no mode field")
	case !seen["max_age"]:
		return nil, errors.New("no max_age field")
	case p.Mode != None && len(p.MX) == 0:
		return nil, fmt.Errorf("mode %s without any mx field", p.Mode)
	}
	return p, nil
}

// validPattern is a host name, possibly with one leading "*." label.
func validPattern(s string) bool {
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseTXT reads the _mta-sts TXT records of a domain (RFC 8461 §3.1):
// those that do not begin with "v=STSv1;" are dropped; exactly one must
// remain, with an id of 1 to 32 letters and digits. It returns the id, or
// "" with an error when the domain has no usable record.
func ParseTXT(records []string) (string, error) {
	var sts []string
	for _, r := range records {
		if strings.HasPrefix(r, "v=STSv1;") || r == "v=STSv1" {
			sts = append(sts, r)
		}
	}
	if len(sts) != 1 {
		return "", fmt.Errorf("%d v=STSv1 TXT records, want 1", len(sts))
	}
	id := ""
	for i, f := range strings.Split(sts[0], ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("TXT field %q is not key=value", f)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if i == 0 {
			continue // v=STSv1
		}
		if k == "id" && id == "" {
			if v == "" || len(v) > 32 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				return "", fmt.Errorf("id %q is not 1 to 32 letters and digits", v)
			}
			id = v
		}
	}
	if id == "" {
		return "", errors.New("no id in the TXT record")
	}
	return id, nil
}
