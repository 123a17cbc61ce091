package fetch

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ebb fetch add's options become an account: default ports by protocol
// and TLS (RFC 8314 §3.3), folders, OAuth2 presets filling the server
// and endpoints; each mistake is a usage error that says which option.
func TestNewAccount(t *testing.T) {
	cases := []struct {
		o                AccountOptions
		host             string
		port             int
		folders          string
		after, auth, tls string
	}{
		{AccountOptions{Name: "w", Server: "imap.example.net", User: "a", To: "a@x"}, "imap.example.net", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "imap.example.net", TLS: "starttls", User: "a", To: "a@x"}, "imap.example.net", 143, "INBOX", "keep", "password", "starttls"},
		{AccountOptions{Name: "w", Server: "pop.example.net", Protocol: "POP3", User: "a", To: "a@x", After: "delete"}, "pop.example.net", 995, "INBOX", "delete", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "pop.example.net", Protocol: "pop3", TLS: "none", AllowPlaintext: true, User: "a", To: "a@x"}, "pop.example.net", 110, "INBOX", "keep", "password", "none"},
		{AccountOptions{Name: "w", Server: "127.0.0.1:1993", User: "a", To: "a@x", Folders: " INBOX , Lists/ebb,", After: "move", MoveTo: "Archive"}, "127.0.0.1", 1993, "INBOX,Lists/ebb", "move", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "[::1]:993", User: "a", To: "a@x"}, "::1", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "w", Server: "::1", User: "a", To: "a@x"}, "::1", 993, "INBOX", "keep", "password", "implicit"},
		{AccountOptions{Name: "g", OAuth2: "google", ClientID: "cid", User: "a@gmail.com", To: "a@x"}, "imap.gmail.com", 993, "INBOX", "keep", "oauth2", "implicit"},
		{AccountOptions{Name: "m", OAuth2: "microsoft", ClientID: "cid", Protocol: "pop3", User: "a@x.onmicrosoft.com", To: "a@x"}, "outlook.office365.com", 995, "INBOX", "keep", "oauth2", "implicit"},
	}
	for _, c := range cases {
		a, err := NewAccount(c.o)
		if err != nil {
			t.Errorf("%+v: %v", c.o, err)
			continue
		}
		if a.Host != c.host || a.Port != c.port || strings.Join(a.Folders, ",") != c.folders || a.After != c.after || a.Auth != c.auth ||
			a.TLS != c.tls || !a.Verify || !a.Enabled {
			t.Errorf("%+v: got %+v", c.o, a)
		}
	}
	g, _ := NewAccount(AccountOptions{Name: "g", OAuth2: "google", ClientID: "cid", User: "a@gmail.com", To: "a@x"})
	if g.OAuth == nil || g.OAuth.TokenURL != Providers["google"].TokenURL || g.OAuth.Mechanism != "XOAUTH2" || len(g.OAuth.Scopes) == 0 {
		t.Errorf("google preset: %+v", g.OAuth)
	}
	c, _ := NewAccount(AccountOptions{Name: "c", OAuth2: "custom", ClientID: "cid", TokenURL: "http://127.0.0.1/t", Scopes: "a b",
		Mechanism: "oauthbearer", Server: "h", User: "u", To: "a@x"})
	if c.OAuth == nil || c.OAuth.Mechanism != "OAUTHBEARER" || strings.Join(c.OAuth.Scopes, " ") != "a b" {
		t.Errorf("custom: %+v", c.OAuth)
	}

	bad := []struct {
		o     AccountOptions
		words string
	}{
		{AccountOptions{Server: "h", User: "u", To: "a@x"}, "NAME"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Protocol: "smtp"}, "--protocol"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", TLS: "none"}, "--allow-plaintext"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", TLS: "ssl"}, "--tls"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Protocol: "pop3", After: "move", MoveTo: "A"}, "POP3 has no folders"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", After: "move"}, "--move-to"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", MoveTo: "A"}, "--move-to is for --after move"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", After: "archive"}, "--after"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Interval: -time.Second}, "--interval"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", Folders: " , "}, "--folder"},
		{AccountOptions{Name: "w", Server: "h:99999", User: "u", To: "a@x"}, "port"},
		{AccountOptions{Name: "w", Server: "h:imap", User: "u", To: "a@x"}, "port"},
		{AccountOptions{Name: "w", Server: "h/x", User: "u", To: "a@x"}, "not a host"},
		{AccountOptions{Name: "w", User: "u", To: "a@x"}, "--server, --user and --to"},
		{AccountOptions{Name: "w", Server: "h", To: "a@x"}, "--server, --user and --to"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "yahoo", ClientID: "c"}, "--oauth2"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "google"}, "--client-id"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "custom", ClientID: "c"}, "--token-url"},
		{AccountOptions{Name: "w", Server: "h", User: "u", To: "a@x", OAuth2: "google", ClientID: "c", Mechanism: "PLAIN"}, "--mechanism"},
	}
	for _, b := range bad {
		_, err := NewAccount(b.o)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), b.words) {
			t.Errorf("%+v: %v; want a usage error saying %q", b.o, err, b.words)
		}
	}
}
