package acme

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
)

func TestRenewAtIsRenewBeforeButAtMostAThirdOfTheLifetime(t *testing.T) {
	m := &Manager{o: Options{RenewBefore: 30 * 24 * time.Hour}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		life, want time.Duration
	}{
		{90 * 24 * time.Hour, 60 * 24 * time.Hour}, // Let's Encrypt: 30 days before
		{6 * 24 * time.Hour, 4 * 24 * time.Hour},   // short-lived: 2 days before
		{365 * 24 * time.Hour, 335 * 24 * time.Hour},
	} {
		if got := m.renewAt(start, start.Add(c.life)).Sub(start); got != c.want {
			t.Errorf("lifetime %s: renew after %s, want %s", c.life, got, c.want)
		}
	}
}

func TestBackoffDoublesUpToRetryMax(t *testing.T) {
	m := &Manager{o: Options{RetryMin: 10 * time.Minute, RetryMax: time.Hour}}
	want := []time.Duration{10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := m.backoff(i + 1); got != w {
			t.Errorf("failure %d: wait %s, want %s", i+1, got, w)
		}
	}
}

// The CA's problem document is found wherever x/crypto/acme puts it, and
// the hint fits the problem, not only its type.
func TestProblemAndHint(t *testing.T) {
	chal := &xacme.Error{StatusCode: 403, ProblemType: "urn:ietf:params:acme:error:unauthorized", Detail: "Failed to connect to 192.0.2.1:80 for the http-01 challenge"}
	err := &stageError{stage: "challenge", name: "mta-sts.example.org", challenge: "http-01",
		err: fmt.Errorf("wait: %w", &xacme.AuthorizationError{Identifier: "mta-sts.example.org", Errors: []error{chal}})}
	p := problemOf(err)
	if p == nil || p.Detail != chal.Detail || p.Status != 403 {
		t.Fatalf("problem %+v", p)
	}
	if h := problemHint(p, "mta-sts.example.org", "http-01"); !strings.Contains(h, "could not connect to mta-sts.example.org on port 80 (web.listen_http, http-01)") {
		t.Errorf("a failed connection reported as unauthorized: %s", h)
	}
	wrong := &Problem{Type: "urn:ietf:params:acme:error:unauthorized", Detail: "The key authorization file from the server did not match this challenge"}
	if h := problemHint(wrong, "a.example", "http-01"); !strings.Contains(h, "another server answered") {
		t.Errorf("a wrong answer: %s", h)
	}
	caa := &Problem{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Subproblems: []Subproblem{{Type: "urn:ietf:params:acme:error:caa", Detail: "CAA record forbids", Identifier: "b.example"}}}
	if h := problemHint(caa, "a.example", "tls-alpn-01"); !strings.Contains(h, "a CAA record of b.example") {
		t.Errorf("the subproblem decides: %s", h)
	}
	oe := &xacme.OrderError{Status: "invalid", Problem: &xacme.Error{ProblemType: "urn:ietf:params:acme:error:rateLimited", Detail: "too many certificates"}}
	if p := problemOf(oe); p == nil || !strings.Contains(p.String(), "rateLimited: too many certificates") {
		t.Errorf("order problem %+v", p)
	}
	if problemOf(errors.New("dial tcp: connection refused")) != nil {
		t.Error("a network error has no problem document")
	}
	if h := problemHint(nil, "x", "http-01"); !strings.Contains(h, "acme.directory_url") {
		t.Errorf("no answer from the CA: %s", h)
	}
}
