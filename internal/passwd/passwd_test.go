package passwd

import (
	"errors"
	"strings"
	"testing"
)

// Vectors from Drepper's SHA-crypt specification, confirmed with glibc
// crypt(3) and openssl passwd -5/-6.
func TestShaCryptMatchesPublishedVectors(t *testing.T) {
	cases := []struct{ setting, password, want string }{
		{"$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"$5$rounds=10000$saltstringsaltstring", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
		{"$6$rounds=10$roundstoolow", "the minimum number is still observed", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
		{"$5$rounds=5000$toolongsaltstring", "This is just a test", "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
	}
	for _, c := range cases {
		got, err := shaCrypt(c.password, c.setting)
		if err != nil || got != c.want {
			t.Errorf("shaCrypt(%q, %q) = %q, %v; want %q", c.password, c.setting, got, err, c.want)
		}
	}
}

// Hashes made by `doveadm pw -s SCHEME -p secret` (Dovecot 2.3.19).
func TestVerifyAcceptsDovecotHashes(t *testing.T) {
	p := DefaultPolicy
	p.AllowPlain = true
	cases := []struct {
		stored     string
		wantRehash bool
	}{
		{"{SHA512-CRYPT}$6$gp9CS0no/7H5biQ8$4/SeZH3L5lZbbEXOaVo7PNvg9oSqwZmry8IirCA5BW.0lOneyAekCBYpzEyA0k0O718VwGTdY1NnXzTUfM53B0", true},
		{"{SHA256-CRYPT}$5$rfkCJp1uPjIBmckF$BOMOwlCnPmAcnG/ejy72gWboenWBXdgnqqH012hLew3", true},
		{"{SSHA512}mMw3VzRlPuhRI8rCrnIZx+WSSvNRQby1fs3NLgg/xc7XTTlz7keJVIHXQqwqLGiRWt/npvtOawJRxW9zxA9sVRzIg7k=", true},
		{"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c5NTGLfrTAD8ZQUvOUSNuQ$+bzwBwYMIzuZOj2SwexjM27bO6aD6uGDT9hYFiIQ9Ko", false},
		{"{BLF-CRYPT}$2y$05$tMTTpMOu8NxVvLpWp.5GbOnxa2PaAw5xCTu5Dl81GSrtSwzXAHDyq", true},
		{"{PLAIN}secret", true},
		{"$6$gp9CS0no/7H5biQ8$4/SeZH3L5lZbbEXOaVo7PNvg9oSqwZmry8IirCA5BW.0lOneyAekCBYpzEyA0k0O718VwGTdY1NnXzTUfM53B0", true},
	}
	for _, c := range cases {
		rehash, err := p.Verify(c.stored, "secret")
		if err != nil || rehash != c.wantRehash {
			t.Errorf("Verify(%s, right password) = rehash %v, %v; want %v, nil", c.stored, rehash, err, c.wantRehash)
		}
		if _, err := p.Verify(c.stored, "wrong"); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%s, wrong password) = %v; want ErrMismatch", c.stored, err)
		}
		if err := p.Check(c.stored); err != nil {
			t.Errorf("Check(%s) = %v", c.stored, err)
		}
	}
}

func TestPlainRefusedUnlessAllowed(t *testing.T) {
	if _, err := DefaultPolicy.Verify("{PLAIN}secret", "secret"); !errors.Is(err, ErrPlainRefused) {
		t.Fatalf("Verify({PLAIN}) with allow_plain off = %v; want ErrPlainRefused", err)
	}
	if err := DefaultPolicy.Check("{PLAIN}secret"); !errors.Is(err, ErrPlainRefused) {
		t.Fatalf("Check({PLAIN}) with allow_plain off = %v; want ErrPlainRefused", err)
	}
}

func TestUnknownAndMalformedHashesAreRefused(t *testing.T) {
	for _, s := range []string{"{MD4}abc", "nobrace", "{SHA512-CRYPT}$5$x$y", "{ARGON2ID}$argon2id$v=19$bad", "{SSHA512}!!!"} {
		if err := DefaultPolicy.Check(s); err == nil {
			t.Errorf("Check(%q) = nil; want an error", s)
		}
	}
}

func TestNewHashIsArgon2idAndVerifies(t *testing.T) {
	p := Policy{Argon2: Argon2{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}}
	h, err := p.Hash("pässword")
	if err != nil {
		t.Fatal(err)
	}
	if Scheme(h) != "ARGON2ID" {
		t.Fatalf("Hash gave scheme %q", Scheme(h))
	}
	if rehash, err := p.Verify(h, "pässword"); err != nil || rehash {
		t.Fatalf("Verify(own hash) = %v, %v", rehash, err)
	}
	stronger := p
	stronger.Argon2.Time = 2
	if rehash, err := stronger.Verify(h, "pässword"); err != nil || !rehash {
		t.Fatalf("Verify with changed parameters = rehash %v, %v; want true", rehash, err)
	}
}

// FuzzVerify: no stored string makes Verify or Check panic.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"{SHA512-CRYPT}$6$rounds=1000$x$y", "{ARGON2ID}$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "{BLF-CRYPT}$2y$04$x", "{SSHA512.HEX}00", "$5$", "{"} {
		f.Add(s, "pw")
	}
	p := Policy{Argon2: Argon2{MemoryKiB: 8, Time: 1, Threads: 1}}
	f.Fuzz(func(t *testing.T, stored, pw string) {
		// Keep argon2 affordable: the fuzzer may pick huge m= or t=.
		if strings.Contains(stored, "argon2") && len(stored) > 0 {
			if strings.Contains(stored, "m=") && !strings.Contains(stored, "m=8,") {
				return
			}
		}
		if strings.Contains(stored, "rounds=") {
			return
		}
		p.Check(stored)
		p.Verify(stored, pw)
	})
}
