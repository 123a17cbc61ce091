package wellknown

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/mtasts"
)

func settings() Settings {
	return Settings{Hostname: "mail.example.net", MTASTSMode: "enforce", MTASTSMX: []string{"mail.example.net", "*.mx.example.net"},
		MTASTSMaxAge: 7 * 24 * time.Hour, Autoconfig: true,
		IMAP:       Endpoint{Host: "imap.example.net", Port: 993, Implicit: true},
		Submission: &Endpoint{Host: "mail.example.net", Port: 587}}
}

// The served policy is what ebb's own MTA-STS parser (the one the relay
// uses on other domains' policies) reads back, and its id changes exactly
// when the policy does.
func TestPolicyTextParsesAndItsIDFollowsThePolicy(t *testing.T) {
	s := settings()
	text, id, ok := PolicyText(s)
	if !ok {
		t.Fatal("no policy")
	}
	p, err := mtasts.ParsePolicy(text)
	if err != nil {
		t.Fatalf("ebb's parser refuses ebb's policy: %v\n%s", err, text)
	}
	if p.Mode != mtasts.Enforce || p.MaxAge != 7*24*time.Hour || len(p.MX) != 2 || !p.Matches("a.mx.example.net") || !p.Matches("mail.example.net") {
		t.Errorf("parsed: %+v", p)
	}
	if !strings.HasSuffix(text, "\r\n") || len(id) != 20 {
		t.Errorf("text %q id %q", text, id)
	}
	got, err := mtasts.ParseTXT([]string{MTASTSRecord(id)})
	if err != nil || got != id {
		t.Errorf("the TXT record %q parses as %q, %v", MTASTSRecord(id), got, err)
	}
	for _, change := range []func(*Settings){
		func(s *Settings) { s.MTASTSMode = "testing" },
		func(s *Settings) { s.MTASTSMaxAge = time.Hour },
		func(s *Settings) { s.MTASTSMX = s.MTASTSMX[:1] },
	} {
		s2 := settings()
		change(&s2)
		if _, id2, _ := PolicyText(s2); id2 == id {
			t.Errorf("policy changed, id did not: %+v", s2)
		}
	}
	if _, id2, _ := PolicyText(settings()); id2 != id {
		t.Error("the same policy has two ids")
	}
	s.MTASTSMode = "off"
	if _, _, ok := PolicyText(s); ok {
		t.Error("mode off still serves a policy")
	}
}

func TestFromConfigPrefersImplicitTLSForSubmission(t *testing.T) {
	cfg := config.Defaults()
	cfg.Server.Hostname = "mx.example.org"
	cfg.Submission.Listen = []string{"0.0.0.0:587"}
	cfg.Submission.ListenTLS = []string{"[::]:465"}
	s := FromConfig(cfg)
	if s.Submission == nil || s.Submission.Port != 465 || !s.Submission.Implicit || s.Submission.Host != "mx.example.org" {
		t.Errorf("submission: %+v", s.Submission)
	}
	if s.IMAP.Host != "mx.example.org" || s.IMAP.Port != 993 || !s.IMAP.Implicit || s.MTASTSMX[0] != "mx.example.org" {
		t.Errorf("imap %+v mx %v", s.IMAP, s.MTASTSMX)
	}
	cfg.Submission.ListenTLS = nil
	if s := FromConfig(cfg); s.Submission.Port != 587 || s.Submission.Implicit {
		t.Errorf("STARTTLS submission: %+v", s.Submission)
	}
}

// Requests by host and path: only hosted domains get answers; a policy is
// never redirected (RFC 8461 §3.3); autodiscover wants a POST.
func TestServerAnswersOnlyHostedDomains(t *testing.T) {
	srv := New(settings())
	srv.Domains = func(context.Context) ([]string, error) { return []string{"example.org", "alias.example"}, nil }
	h := srv.HTTPSHandler()
	for _, c := range []struct {
		method, host, path, body string
		code                     int
		has                      string
	}{
		{"GET", "mta-sts.example.org", MTASTSPath, "", 200, "mode: enforce\r\n"},
		{"GET", "mta-sts.alias.example:443", MTASTSPath, "", 200, "version: STSv1"},
		{"GET", "mta-sts.other.example", MTASTSPath, "", 404, ""},
		{"GET", "example.org", MTASTSPath, "", 404, ""},
		{"GET", "autoconfig.example.org", "/mail/config-v1.1.xml", "", 200, `<emailProvider id="example.org">`},
		{"GET", "example.org", "/.well-known/autoconfig/mail/config-v1.1.xml", "", 200, "<hostname>imap.example.net</hostname>"},
		{"GET", "mail.example.net", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40alias.example", "", 200, "<domain>alias.example</domain>"},
		{"GET", "autoconfig.nothosted.example", "/mail/config-v1.1.xml", "", 404, ""},
		// The account address is an addr-spec (envaddr): a display name or
		// a second "@" is no address, and the host's name decides.
		{"GET", "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=Bob+%3Cbob%40alias.example%3E", "", 200, `<emailProvider id="example.org">`},
		{"GET", "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=bob%40evil.example%40alias.example", "", 200, `<emailProvider id="example.org">`},
		{"GET", "mail.example.net", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40Alias.Example", "", 200, "<domain>alias.example</domain>"},
		{"POST", "autodiscover.example.org", "/Autodiscover/Autodiscover.xml", `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`, 200, "<LoginName>alice@example.org</LoginName>"},
		{"POST", "autodiscover.example.org", "/autodiscover/autodiscover.xml", `<Autodiscover><Request><EMailAddress>eve@evil.example</EMailAddress></Request></Autodiscover>`, 404, ""},
		{"POST", "autodiscover.example.org", "/autodiscover/autodiscover.xml", `<Autodiscover><Request><EMailAddress> Alice@Example.ORG </EMailAddress></Request></Autodiscover>`, 200, "<LoginName>Alice@example.org</LoginName>"},
		{"POST", "autodiscover.example.org", "/autodiscover/autodiscover.xml", `<Autodiscover><Request><EMailAddress>Eve &lt;alice@example.org&gt;</EMailAddress></Request></Autodiscover>`, 400, ""},
		{"GET", "autodiscover.example.org", "/autodiscover/autodiscover.xml", "", 405, ""},
		{"GET", "example.org", "/", "", 404, ""},
	} {
		r := httptest.NewRequest(c.method, "https://"+c.host+c.path, strings.NewReader(c.body))
		r.Host = c.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.has) {
			t.Errorf("%s %s%s: %d, want %d with %q:\n%s", c.method, c.host, c.path, w.Code, c.code, c.has, w.Body)
		}
		if w.Code == 200 && c.path == MTASTSPath && w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("policy media type %q", w.Header().Get("Content-Type"))
		}
	}
}

func TestAutodiscoverResponseReadsBack(t *testing.T) {
	var r autodiscoverResponse
	if err := xml.Unmarshal(Autodiscover(settings(), "alice@example.org"), &r); err != nil {
		t.Fatal(err)
	}
	ps := r.Response.Account.Protocol
	if r.NS != adResponseNS || r.Response.NS != adOutlookNS || len(ps) != 2 ||
		ps[0].Type != "IMAP" || ps[0].Port != 993 || ps[0].Encryption != "SSL" ||
		ps[1].Type != "SMTP" || ps[1].Port != 587 || ps[1].Encryption != "TLS" || ps[1].LoginName != "alice@example.org" {
		t.Errorf("%+v", r)
	}
}

func TestHTTPRedirectsToHTTPSOnlyWhenThereIsHTTPS(t *testing.T) {
	srv := New(settings())
	srv.HTTPSPort = "8443"
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=a%40example.org", nil)
	srv.HTTPHandler(true).ServeHTTP(w, r)
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "https://autoconfig.example.org:8443/mail/config-v1.1.xml?emailaddress=a%40example.org" {
		t.Errorf("%d %q", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	srv.HTTPHandler(false).ServeHTTP(w, httptest.NewRequest("GET", "http://mta-sts.example.org"+MTASTSPath, nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("without HTTPS: %d", w.Code)
	}
}
