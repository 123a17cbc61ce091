// Package passwd hashes new passwords with argon2id and verifies the hashes
// people bring from Dovecot and Courier, in Dovecot's "{SCHEME}hash" form.
//
// Schemes verified: {ARGON2ID} (and {ARGON2I}), {BLF-CRYPT} (bcrypt),
// {SHA512-CRYPT} and {SHA256-CRYPT} (glibc SHA-crypt), {SSHA512}, {SSHA256},
// {SSHA}, {SHA512}, {SHA256}, {SHA}, and {PLAIN}/{CLEAR}/{CLEARTEXT} only
// when the caller allows it. A bare "$6$…", "$5$…", "$2y$…" or "$argon2id$…"
// string (what crypt(3) and doveadm print without -s) is accepted as the
// matching scheme. New hashes are always argon2id in Dovecot's format, so a
// Dovecot that shares the passwd data can read them:
//
//	{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$<salt, base64>$<hash, base64>
package passwd

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrMismatch: the password is wrong.
	ErrMismatch = errors.New("password does not match")
	// ErrNoPassword: the entry has no password; login is refused.
	ErrNoPassword = errors.New("no password set")
	// ErrPlainRefused: a {PLAIN} entry while directory.allow_plain is off.
	ErrPlainRefused = errors.New("clear-text {PLAIN} password entries are refused (directory.allow_plain = false)")
	// ErrUnsupported: a scheme this package does not know.
	ErrUnsupported = errors.New("unsupported password scheme")
	// ErrMalformed: the hash does not parse for its scheme.
	ErrMalformed = errors.New("malformed password hash")
)

// Argon2 are the parameters of new argon2id hashes.
type Argon2 struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Policy is how hashes are made and checked.
type Policy struct {
	Argon2     Argon2
	AllowPlain bool
}

// DefaultPolicy is RFC 9106's second recommended option (64 MiB, 3 passes)
// with one lane, as Dovecot uses.
var DefaultPolicy = Policy{Argon2: Argon2{MemoryKiB: 64 * 1024, Time: 3, Threads: 1}}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

var b64raw = base64.RawStdEncoding

// Hash returns a new {ARGON2ID} hash of password.
func (p Policy) Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	a := p.Argon2
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, argonKeyLen)
	return fmt.Sprintf("{ARGON2ID}$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.MemoryKiB, a.Time, a.Threads, b64raw.EncodeToString(salt), b64raw.EncodeToString(key)), nil
}

// Scheme returns the scheme of a stored hash, upper case, without braces:
// "SHA512-CRYPT". A bare crypt string is named by its prefix.
func Scheme(stored string) string {
	if strings.HasPrefix(stored, "{") {
		if i := strings.IndexByte(stored, '}'); i > 0 {
			return strings.ToUpper(stored[1:i])
		}
	}
	switch {
	case strings.HasPrefix(stored, "$6$"):
		return "SHA512-CRYPT"
	case strings.HasPrefix(stored, "$5$"):
		return "SHA256-CRYPT"
	case strings.HasPrefix(stored, "$2"):
		return "BLF-CRYPT"
	case strings.HasPrefix(stored, "$argon2id$"):
		return "ARGON2ID"
	case strings.HasPrefix(stored, "$argon2i$"):
		return "ARGON2I"
	}
	return ""
}

func body(stored string) string {
	if strings.HasPrefix(stored, "{") {
		if i := strings.IndexByte(stored, '}'); i > 0 {
			return stored[i+1:]
		}
	}
	return stored
}

// Check reports whether stored is a hash Verify can use, without a password:
// imports use it to refuse bad lines before anything is written.
func (p Policy) Check(stored string) error {
	if stored == "" {
		return nil
	}
	_, err := p.verify(stored, "", true)
	return err
}

// Verify checks password against stored. It returns nil when they match,
// and whether the stored hash should be replaced by a fresh argon2id one
// (another scheme, or argon2 parameters other than the policy's).
func (p Policy) Verify(stored, password string) (rehash bool, err error) {
	if stored == "" {
		return false, ErrNoPassword
	}
	return p.verify(stored, password, false)
}

func (p Policy) verify(stored, password string, checkOnly bool) (rehash bool, err error) {
	scheme, b := Scheme(stored), body(stored)
	// Dovecot allows an encoding suffix on the digest schemes: {SSHA512.HEX}.
	enc := ""
	if i := strings.LastIndexByte(scheme, '.'); i > 0 {
		scheme, enc = scheme[:i], scheme[i+1:]
	}
	match := func(ok bool) (bool, error) {
		if checkOnly || ok {
			return true, nil
		}
		return false, ErrMismatch
	}
	switch scheme {
	case "ARGON2ID", "ARGON2I":
		r, ok, err := verifyArgon2(b, password, p.Argon2, checkOnly)
		if err != nil {
			return false, err
		}
		if checkOnly || ok {
			return r || scheme != "ARGON2ID", nil
		}
		return false, ErrMismatch
	case "BLF-CRYPT", "BCRYPT":
		if _, err := bcrypt.Cost([]byte(b)); err != nil {
			return false, fmt.Errorf("%w: {%s}: %v", ErrMalformed, scheme, err)
		}
		if checkOnly {
			return true, nil
		}
		return match(bcrypt.CompareHashAndPassword([]byte(b), []byte(password)) == nil)
	case "SHA512-CRYPT", "SHA256-CRYPT":
		want := "$6$"
		if scheme == "SHA256-CRYPT" {
			want = "$5$"
		}
		if !strings.HasPrefix(b, want) || strings.Count(b, "$") < 3 {
			return false, fmt.Errorf("%w: {%s} must start with %s", ErrMalformed, scheme, want)
		}
		if checkOnly {
			return true, nil
		}
		ok, err := verifyShaCrypt(b, password)
		if err != nil {
			return false, fmt.Errorf("%w: {%s}: %v", ErrMalformed, scheme, err)
		}
		return match(ok)
	case "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256", "SHA", "SHA1":
		return p.verifyDigest(scheme, enc, b, password, checkOnly)
	case "PLAIN", "CLEAR", "CLEARTEXT":
		if !p.AllowPlain {
			return false, ErrPlainRefused
		}
		return match(subtle.ConstantTimeCompare([]byte(b), []byte(password)) == 1)
	case "":
		return false, fmt.Errorf("%w: no {SCHEME} prefix", ErrUnsupported)
	}
	return false, fmt.Errorf("%w {%s}", ErrUnsupported, scheme)
}

// verifyDigest handles the salted and plain SHA-2/SHA-1 digests: the stored
// value is base64 (or hex with ".HEX") of digest(password+salt)+salt.
func (p Policy) verifyDigest(scheme, enc, b, password string, checkOnly bool) (bool, error) {
	// Only the schemes beginning "SSHA" carry a salt after the digest.
	salted := strings.HasPrefix(scheme, "SSHA")
	var newHash func() hash.Hash
	switch strings.TrimPrefix(strings.TrimPrefix(scheme, "S"), "SHA") {
	case "512", "HA512":
		newHash = sha512.New
	case "256", "HA256":
		newHash = sha256.New
	default:
		newHash = sha1.New
	}
	var raw []byte
	var err error
	switch strings.ToUpper(enc) {
	case "", "B64", "BASE64":
		raw, err = base64.StdEncoding.DecodeString(b)
	case "HEX":
		raw, err = hex.DecodeString(b)
	default:
		return false, fmt.Errorf("%w: {%s.%s}: unknown encoding", ErrMalformed, scheme, enc)
	}
	size := newHash().Size()
	if err != nil || len(raw) < size || (!salted && len(raw) != size) {
		return false, fmt.Errorf("%w: {%s}: not a %d-byte digest in base64 or hex", ErrMalformed, scheme, size)
	}
	if checkOnly {
		return true, nil
	}
	h := newHash()
	h.Write([]byte(password))
	h.Write(raw[size:])
	if subtle.ConstantTimeCompare(h.Sum(nil), raw[:size]) == 1 {
		return true, nil
	}
	return false, ErrMismatch
}

// verifyArgon2 checks the PHC string "$argon2id$v=19$m=…,t=…,p=…$salt$hash"
// (libsodium's crypto_pwhash_str, which Dovecot uses). rehash is true when
// the parameters differ from want.
func verifyArgon2(s, password string, want Argon2, checkOnly bool) (rehash, ok bool, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return false, false, fmt.Errorf("%w: argon2 hash must be $argon2id$v=19$m=M,t=T,p=P$SALT$HASH", ErrMalformed)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, false, fmt.Errorf("%w: argon2 version %q (want v=%d)", ErrMalformed, parts[2], argon2.Version)
	}
	var m, t uint32
	var par uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &par); err != nil || t == 0 || par == 0 {
		return false, false, fmt.Errorf("%w: argon2 parameters %q", ErrMalformed, parts[3])
	}
	salt, err1 := b64raw.DecodeString(strings.TrimRight(parts[4], "="))
	key, err2 := b64raw.DecodeString(strings.TrimRight(parts[5], "="))
	if err1 != nil || err2 != nil || len(key) < 4 {
		return false, false, fmt.Errorf("%w: argon2 salt or hash is not base64", ErrMalformed)
	}
	rehash = m != want.MemoryKiB || t != want.Time || par != want.Threads
	if checkOnly {
		return rehash, true, nil
	}
	var got []byte
	if parts[1] == "argon2i" {
		got = argon2.Key([]byte(password), salt, t, m, par, uint32(len(key)))
	} else {
		got = argon2.IDKey([]byte(password), salt, t, m, par, uint32(len(key)))
	}
	return rehash, subtle.ConstantTimeCompare(got, key) == 1, nil
}
