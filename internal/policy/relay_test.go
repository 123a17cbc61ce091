package policy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

type hosted map[string]bool

func (h hosted) IsLocalDomain(_ context.Context, d string) (bool, error) {
	if d == "broken.test" {
		return false, errors.New("database is down")
	}
	return h[d], nil
}

var ours = hosted{"example.test": true, "other.test": true}

func relaying(t *testing.T, trusted ...string) *Relaying {
	n, err := ParseNetworks(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return &Relaying{Domains: ours, TrustedNetworks: n}
}

// The classic relay tricks: from an untrusted, unauthenticated client none of
// them may reach a remote domain, and none may crash anything. Addresses are
// written as go-smtp hands them over (brackets, source routes and quotes
// already removed) and, for the ones go-smtp would have parsed differently,
// also as raw text.
var relayMatrix = []struct {
	name string
	rcpt string
}{
	{"plain remote", "user@remote.example"},
	{"percent hack", "user%remote.example@example.test"},
	{"source route (as go-smtp strips it)", "user@remote.example"},
	{"source route (raw)", "@example.test:user@remote.example"},
	{"source route with several hops (raw)", "@example.test,@other.test:user@remote.example"},
	{"quoted local part with @ (as go-smtp unquotes it)", "user@remote.example@example.test"},
	{"quoted local part with @ (raw)", `"user@remote.example"@example.test`},
	{"double @", "user@remote.example@example.test"},
	{"bang path without domain", "remote.example!user"},
	{"bang path at our domain", "remote.example!user@example.test"},
	{"IPv4 address literal", "user@[192.0.2.1]"},
	{"IPv6 address literal", "user@[IPv6:2001:db8::1]"},
	{"our IP as a literal", "user@[127.0.0.1]"},
	{"mixed case remote", "User@Remote.EXAMPLE"},
	{"trailing dot remote", "user@remote.example."},
	{"remote that ends with our name", "user@evilexample.test"},
	{"remote subdomain-like suffix", "user@example.test.remote.example"},
	{"empty recipient", ""},
	{"only a domain", "@example.test"},
	{"no domain", "user"},
	{"empty domain", "user@"},
	{"empty label", "user@example..test"},
	{"very long local part", strings.Repeat("a", 300) + "@remote.example"},
	{"very long address", strings.Repeat("a", 60) + "@" + strings.Repeat("b.", 200) + "remote.example"},
	{"very long ours", strings.Repeat("a", 5000) + "@example.test"},
	{"control character", "user\r\n@remote.example"},
	{"NUL", "user\x00@example.test"},
	{"space in domain", "user@remote example"},
	{"comma in domain", "user@remote.example,example.test"},
	{"colon in domain", "user@example.test:remote.example"},
	{"bracket in domain", "user@remote.example>"},
	{"directory down on a remote-looking domain", "user@broken.test"},
}

func TestRelayMatrixUntrustedNeverRelays(t *testing.T) {
	p := relaying(t, "127.0.0.1/32")
	client := Client{IP: netip.MustParseAddr("127.0.0.2")}
	for _, tc := range relayMatrix {
		t.Run(tc.name, func(t *testing.T) {
			a, route, ref, err := p.Recipient(context.Background(), client, tc.rcpt)
			if route == Relay {
				t.Fatalf("%q relays to %v", tc.rcpt, a)
			}
			if route == Local {
				// Accepted as local: the domain must really be ours,
				// with nothing in the local part that routes elsewhere.
				if !ours[a.Domain] || strings.ContainsAny(a.Local, "@%!") {
					t.Fatalf("%q accepted as local %v", tc.rcpt, a)
				}
				return
			}
			if err == nil && ref == nil {
				t.Fatalf("%q: no route, no refusal, no error", tc.rcpt)
			}
			if ref != nil && ref.Code/100 != 5 {
				t.Errorf("%q: refusal %v is not permanent", tc.rcpt, ref)
			}
			if ref != nil && len(ref.Message) > 400 {
				t.Errorf("%q: reply too long (%d)", tc.rcpt, len(ref.Message))
			}
		})
	}
}

func TestRelayMatrixTricksRefusedEvenWhenTrusted(t *testing.T) {
	// Routing tricks are refused for everyone: a trusted or logged-in
	// client has no business using them either.
	p := relaying(t, "127.0.0.0/8")
	for _, c := range []Client{{IP: netip.MustParseAddr("127.0.0.1")}, {IP: netip.MustParseAddr("192.0.2.7"), Account: "demo@example.test"}} {
		for _, rcpt := range []string{"user%remote.example@example.test", "remote.example!user@example.test", "user@remote.example@example.test", `"a@b"@example.test`} {
			_, route, ref, _ := p.Recipient(context.Background(), c, rcpt)
			if route != 0 || ref == nil || ref.Enhanced != [3]int{5, 1, 3} {
				t.Errorf("%+v %q: route %v refusal %v, want 553 5.1.3", c, rcpt, route, ref)
			}
		}
	}
}

func TestRelayDecision(t *testing.T) {
	p := relaying(t, "127.0.0.1/32", "::1")
	tests := []struct {
		name   string
		client Client
		rcpt   string
		route  Route
		code   int
	}{
		{"hosted domain from anyone", Client{IP: netip.MustParseAddr("203.0.113.9")}, "demo@example.test", Local, 0},
		{"hosted domain, mixed case and trailing dot", Client{IP: netip.MustParseAddr("203.0.113.9")}, "Demo@EXAMPLE.Test.", Local, 0},
		{"remote from a stranger", Client{IP: netip.MustParseAddr("203.0.113.9")}, "x@remote.example", 0, 554},
		{"remote from a trusted network", Client{IP: netip.MustParseAddr("127.0.0.1")}, "x@remote.example", Relay, 0},
		{"remote from trusted IPv6 loopback", Client{IP: netip.MustParseAddr("::1")}, "x@remote.example", Relay, 0},
		{"remote from IPv4-mapped trusted", Client{IP: netip.MustParseAddr("::ffff:127.0.0.1")}, "x@remote.example", Relay, 0},
		{"remote from another loopback address, not trusted", Client{IP: netip.MustParseAddr("127.0.0.2")}, "x@remote.example", 0, 554},
		{"remote after AUTH", Client{IP: netip.MustParseAddr("203.0.113.9"), Account: "demo@example.test"}, "x@remote.example", Relay, 0},
		{"address literal after AUTH", Client{IP: netip.MustParseAddr("203.0.113.9"), Account: "demo@example.test"}, "x@[192.0.2.1]", Relay, 0},
		{"address literal from a stranger", Client{IP: netip.MustParseAddr("203.0.113.9")}, "x@[192.0.2.1]", 0, 554},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, route, ref, err := p.Recipient(context.Background(), tc.client, tc.rcpt)
			if err != nil {
				t.Fatal(err)
			}
			if route != tc.route {
				t.Errorf("route %v, want %v (refusal %v)", route, tc.route, ref)
			}
			if tc.code != 0 && (ref == nil || ref.Code != tc.code) {
				t.Errorf("refusal %v, want code %d", ref, tc.code)
			}
		})
	}
}

func TestRelayDirectoryTroubleIsAnError(t *testing.T) {
	p := relaying(t)
	_, route, ref, err := p.Recipient(context.Background(), Client{IP: netip.MustParseAddr("127.0.0.1")}, "a@broken.test")
	if err == nil || route != 0 || ref != nil {
		t.Fatalf("route %v ref %v err %v: want an error so the client gets 4xx", route, ref, err)
	}
}

func TestParseNetworks(t *testing.T) {
	n, err := ParseNetworks([]string{"127.0.0.0/8", "::1/128", "10.1.2.3", "192.168.1.77/24"})
	if err != nil {
		t.Fatal(err)
	}
	if n[2].String() != "10.1.2.3/32" || n[3].String() != "192.168.1.0/24" {
		t.Errorf("got %v", n)
	}
	if _, err := ParseNetworks([]string{"localhost"}); err == nil {
		t.Error("a name was accepted as a network")
	}
}

func FuzzRecipient(f *testing.F) {
	for _, tc := range relayMatrix {
		f.Add(tc.rcpt)
	}
	p := &Relaying{Domains: ours}
	f.Fuzz(func(t *testing.T, rcpt string) {
		a, route, ref, _ := p.Recipient(context.Background(), Client{IP: netip.MustParseAddr("198.51.100.1")}, rcpt)
		if route == Relay {
			t.Fatalf("%q relays", rcpt)
		}
		if route == Local && (!ours[a.Domain] || strings.ContainsAny(a.Local, "@%!")) {
			t.Fatalf("%q accepted as %v", rcpt, a)
		}
		if route == 0 && ref != nil && strings.ContainsAny(ref.Message, "\r\n") {
			t.Fatalf("reply with a line break: %q", ref.Message)
		}
	})
}
