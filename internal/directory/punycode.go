package directory

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Punycode (RFC 3492) turns a Unicode domain label into the ASCII form that
// DNS and SMTP carry ("bücher" ⇄ "xn--bcher-kva"). It is short enough to keep
// here rather than pull in golang.org/x/net for it.

// RFC 3492 §5: parameter values for Punycode.
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
)

var errPunycode = errors.New("invalid punycode")

// RFC 3492 §6.1: bias adaptation.
func pcAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

func pcDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func pcValue(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') + 26, true
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	case c >= 'A' && c <= 'Z':
		return int(c - 'A'), true
	}
	return 0, false
}

func pcThreshold(k, bias int) int {
	switch {
	case k <= bias:
		return pcTMin
	case k >= bias+pcTMax:
		return pcTMax
	}
	return k - bias
}

// punyEncode encodes one label (RFC 3492 §6.3), without the "xn--" prefix.
func punyEncode(label string) (string, error) {
	runes := []rune(label)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	n, delta, bias := pcInitialN, 0, pcInitialBias
	for h < len(runes) {
		m := int(utf8.MaxRune) + 1
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m-n)*(h+1) < 0 || delta+(m-n)*(h+1) < delta {
			return "", errPunycode
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) == n {
				q := delta
				for k := pcBase; ; k += pcBase {
					t := pcThreshold(k, bias)
					if q < t {
						break
					}
					out = append(out, pcDigit(t+(q-t)%(pcBase-t)))
					q = (q - t) / (pcBase - t)
				}
				out = append(out, pcDigit(q))
				bias = pcAdapt(delta, h+1, h == b)
				delta = 0
				h++
			}
		}
		delta++
		n++
	}
	return string(out), nil
}

// punyDecode decodes one label (RFC 3492 §6.2), without the "xn--" prefix.
func punyDecode(s string) (string, error) {
	var out []rune
	i := strings.LastIndexByte(s, '-')
	if i >= 0 {
		for j := 0; j < i; j++ {
			if s[j] >= 0x80 {
				return "", errPunycode
			}
			out = append(out, rune(s[j]))
		}
		s = s[i+1:]
	}
	n, idx, bias := pcInitialN, 0, pcInitialBias
	for pos := 0; pos < len(s); {
		oldi, w := idx, 1
		for k := pcBase; ; k += pcBase {
			if pos >= len(s) {
				return "", errPunycode
			}
			digit, ok := pcValue(s[pos])
			pos++
			if !ok {
				return "", errPunycode
			}
			idx += digit * w
			if idx < 0 || idx > 1<<30 {
				return "", errPunycode
			}
			t := pcThreshold(k, bias)
			if digit < t {
				break
			}
			w *= pcBase - t
			if w > 1<<30 {
				return "", errPunycode
			}
		}
		bias = pcAdapt(idx-oldi, len(out)+1, oldi == 0)
		n += idx / (len(out) + 1)
		if n > utf8.MaxRune {
			return "", errPunycode
		}
		idx %= len(out) + 1
		out = append(out, 0)
		copy(out[idx+1:], out[idx:])
		out[idx] = rune(n)
		idx++
	}
	return string(out), nil
}
