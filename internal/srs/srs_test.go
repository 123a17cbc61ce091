package srs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// day is 2026-12-01, when the vectors below were made by postsrsd 1.10
// (libsrs2) with the secret "tops3cret" and the domain srs.example.test.
var day = time.Date(2026, 12, 1, 9, 45, 0, 0, time.UTC)

func rewriter(t testing.TB, now time.Time, secrets ...string) *Rewriter {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{"tops3cret"}
	}
	r, err := New(Config{Domain: "srs.example.test", Secrets: secrets, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestForwardMatchesLibsrs2(t *testing.T) {
	r := rewriter(t, day)
	cases := []struct{ name, in, want string }{
		{"a plain sender becomes SRS0", "alice@orig.example", "SRS0=pC3y=JU=orig.example=alice@srs.example.test"},
		{"the hash is over the lower-cased data, the case is kept", "Alice@Orig.Example", "SRS0=pC3y=JU=Orig.Example=Alice@srs.example.test"},
		{"someone else's SRS0 becomes SRS1 naming that forwarder", "SRS0=abcd=XY=orig.example=bob@fwd.example",
			"SRS1=oYHT=fwd.example==abcd=XY=orig.example=bob@srs.example.test"},
		{"the null sender stays", "", ""},
		{"an address of our SRS domain stays", "SRS0=pC3y=JU=orig.example=alice@srs.example.test", "SRS0=pC3y=JU=orig.example=alice@srs.example.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Forward(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("Forward(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestReverse(t *testing.T) {
	r := rewriter(t, day)
	cases := []struct {
		name, in, want string
		err            string // "", "not", "forged", "expired", "malformed"
	}{
		{"SRS0 gives the original sender", "SRS0=pC3y=JU=orig.example=alice@srs.example.test", "alice@orig.example", ""},
		{"the domain and the tag are case-insensitive", "srs0=pC3y=JU=orig.example=alice@SRS.example.test", "alice@orig.example", ""},
		{"a lower-cased hash still matches (libsrs2)", "SRS0=pc3y=ju=orig.example=alice@srs.example.test", "alice@orig.example", ""},
		{"SRS1 gives the first forwarder's SRS0 address", "SRS1=oYHT=fwd.example==abcd=XY=orig.example=bob@srs.example.test",
			"SRS0=abcd=XY=orig.example=bob@fwd.example", ""},
		{"a changed hash is forged", "SRS0=AAAA=JU=orig.example=alice@srs.example.test", "", "forged"},
		{"a changed sender is forged", "SRS0=pC3y=JU=orig.example=mallory@srs.example.test", "", "forged"},
		{"a changed SRS1 host is forged", "SRS1=oYHT=evil.example==abcd=XY=orig.example=bob@srs.example.test", "", "forged"},
		{"a missing field is malformed", "SRS0=pC3y=JU=alice@srs.example.test", "", "malformed"},
		{"another domain is not ours", "SRS0=pC3y=JU=orig.example=alice@other.example", "", "not"},
		{"an ordinary address is not SRS", "alice@srs.example.test", "", "not"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Reverse(tc.in)
			var se *Error
			switch tc.err {
			case "":
				if err != nil || got != tc.want {
					t.Fatalf("Reverse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
			case "not":
				if !errors.Is(err, ErrNotSRS) {
					t.Fatalf("Reverse(%q) = %q, %v; want ErrNotSRS", tc.in, got, err)
				}
			default:
				if !errors.As(err, &se) || se.Expired || !strings.Contains(se.Reason, map[string]string{"forged": "hash", "malformed": "malformed"}[tc.err]) {
					t.Fatalf("Reverse(%q) = %q, %v; want %s", tc.in, got, err, tc.err)
				}
			}
		})
	}
}

func TestRoundTripKeepsOddLocalParts(t *testing.T) {
	r := rewriter(t, day)
	for _, a := range []string{"a=b@orig.example", "x+tag@orig.example", "SRS0x@orig.example", "\"q u\"@orig.example"} {
		f, err := r.Forward(a)
		if err != nil {
			t.Fatal(err)
		}
		back, err := r.Reverse(f)
		if err != nil || back != a {
			t.Fatalf("%q -> %q -> %q, %v", a, f, back, err)
		}
	}
}

func TestExpiryAndTheWrapOfTheDayCounter(t *testing.T) {
	made := rewriter(t, day)
	addr, _ := made.Forward("alice@orig.example")
	for _, tc := range []struct {
		after   time.Duration
		expired bool
	}{
		{0, false},
		{20 * 24 * time.Hour, false},
		{21 * 24 * time.Hour, false},
		{22 * 24 * time.Hour, true},
		{500 * 24 * time.Hour, true},
	} {
		_, err := rewriter(t, day.Add(tc.after)).Reverse(addr)
		var se *Error
		if tc.expired != (errors.As(err, &se) && se.Expired) || !tc.expired && err != nil {
			t.Errorf("after %v: %v, want expired=%v", tc.after, err, tc.expired)
		}
	}
	// The 10-bit day counter wraps every 1024 days: an address made on
	// the last day of a cycle is still fresh on the first of the next.
	var last time.Time
	for d := day; ; d = d.Add(24 * time.Hour) {
		if int(d.Unix()/86400)%1024 == 1023 {
			last = d
			break
		}
	}
	a, _ := rewriter(t, last).Forward("alice@orig.example")
	if _, err := rewriter(t, last.Add(2*24*time.Hour)).Reverse(a); err != nil {
		t.Fatalf("across the wrap: %v", err)
	}
}

func TestAnOldSecretStillReverses(t *testing.T) {
	old := rewriter(t, day, "old-secret")
	a, _ := old.Forward("alice@orig.example")
	rotated := rewriter(t, day, "new-secret", "old-secret")
	if got, err := rotated.Reverse(a); err != nil || got != "alice@orig.example" {
		t.Fatalf("%q, %v", got, err)
	}
	if b, _ := rotated.Forward("alice@orig.example"); b == a {
		t.Fatal("new addresses must use the first secret")
	}
	if _, err := rewriter(t, day, "new-secret").Reverse(a); err == nil {
		t.Fatal("an address of a dropped secret must not reverse")
	}
}

func FuzzReverse(f *testing.F) {
	for _, s := range []string{"SRS0=pC3y=JU=orig.example=alice@srs.example.test",
		"SRS1=oYHT=fwd.example==abcd=XY=orig.example=bob@srs.example.test", "SRS0=@srs.example.test", "x@y", "SRS1+a==@srs.example.test"} {
		f.Add(s)
	}
	r := rewriter(f, day)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := r.Reverse(s)
		if err == nil && got == "" {
			t.Fatalf("Reverse(%q): empty address without error", s)
		}
		if err == nil {
			// What reverses must have come from a Forward: forwarding it
			// again gives an address that reverses to it.
			f, ferr := r.Forward(got)
			if ferr != nil {
				return
			}
			if back, err := r.Reverse(f); f != got && (err != nil || back != got) {
				t.Fatalf("%q -> %q -> %q -> %q, %v", s, got, f, back, err)
			}
		}
	})
}
