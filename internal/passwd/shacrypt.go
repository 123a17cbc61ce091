package passwd

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt is glibc's crypt(3) "$5$" (SHA-256) and "$6$" (SHA-512), as
// specified by Ulrich Drepper in "Unix crypt using SHA-256 and SHA-512"
// (https://www.akkadia.org/drepper/SHA-crypt.txt). Dovecot stores it as
// {SHA256-CRYPT} and {SHA512-CRYPT}; `openssl passwd -5/-6` makes it too.

const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
	shaCryptMaxRounds     = 999999999
	shaCryptMaxSalt       = 16
	cryptAlphabet         = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// The byte order in which the final digest is written out, three bytes per
// four characters (the spec's b64_from_24bit calls).
var (
	sha256Order = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512Order = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
		{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
		{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

var errShaCryptFormat = errors.New("malformed SHA-crypt hash")

// shaCrypt computes the crypt string for password with the given setting
// ("$6$salt", "$5$rounds=10000$salt", or a whole hash whose setting part is
// reused).
func shaCrypt(password, setting string) (string, error) {
	var newHash func() hash.Hash
	var order [][3]int
	var prefix string
	switch {
	case strings.HasPrefix(setting, "$5$"):
		newHash, order, prefix = sha256.New, sha256Order, "$5$"
	case strings.HasPrefix(setting, "$6$"):
		newHash, order, prefix = sha512.New, sha512Order, "$6$"
	default:
		return "", errShaCryptFormat
	}
	rest := setting[3:]
	rounds, custom := shaCryptDefaultRounds, false
	if strings.HasPrefix(rest, "rounds=") {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			return "", errShaCryptFormat
		}
		n, err := strconv.ParseUint(rest[len("rounds="):i], 10, 64)
		if err != nil {
			return "", errShaCryptFormat
		}
		// The spec clamps out-of-range round counts rather than refusing them.
		rounds = int(max(shaCryptMinRounds, min(n, shaCryptMaxRounds)))
		custom = true
		rest = rest[i+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > shaCryptMaxSalt {
		salt = salt[:shaCryptMaxSalt]
	}
	p, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	h := newHash()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)
	size := len(b)

	// Digest A.
	h = newHash()
	h.Write(p)
	h.Write(s)
	for n := len(p); n > 0; n -= size {
		h.Write(b[:min(n, size)])
	}
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	// P sequence: digest DP of the password repeated, stretched to len(p).
	h = newHash()
	for range p {
		h.Write(p)
	}
	dp := h.Sum(nil)
	pseq := make([]byte, 0, len(p))
	for n := len(p); n > 0; n -= size {
		pseq = append(pseq, dp[:min(n, size)]...)
	}

	// S sequence: digest DS of the salt repeated 16+A[0] times.
	h = newHash()
	for i := 0; i < 16+int(a[0]); i++ {
		h.Write(s)
	}
	ds := h.Sum(nil)
	sseq := make([]byte, 0, len(s))
	for n := len(s); n > 0; n -= size {
		sseq = append(sseq, ds[:min(n, size)]...)
	}

	c := a
	for i := 0; i < rounds; i++ {
		h = newHash()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(nil)
	}

	var out strings.Builder
	out.WriteString(prefix)
	if custom {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.WriteString(salt)
	out.WriteByte('$')
	b64 := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, o := range order {
		b64(c[o[0]], c[o[1]], c[o[2]], 4)
	}
	if size == 32 {
		b64(0, c[31], c[30], 3)
	} else {
		b64(0, 0, c[63], 2)
	}
	return out.String(), nil
}

// verifyShaCrypt reports whether password matches the crypt string stored.
func verifyShaCrypt(stored, password string) (bool, error) {
	got, err := shaCrypt(password, stored)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1, nil
}
