package config

import (
	"os"
	"strings"
	"testing"
)

// With server.hostname at its default (empty: the machine's host name),
// the reports' sender is postmaster@ that name's domain, never the
// address "postmaster@" with no domain (found by a fresh install's doctor).
func TestReportsFromFollowsTheMachinesHostName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("no host name: %v", err)
	}
	c := Defaults()
	c.Server.Hostname = ""
	got := c.ReportsFrom()
	if got == "postmaster@" || !strings.HasPrefix(got, "postmaster@") || !strings.HasSuffix(strings.ToLower(host), strings.TrimPrefix(got, "postmaster@")) {
		t.Errorf("ReportsFrom() with server.hostname empty on host %q = %q", host, got)
	}
	c.Server.Hostname = "mx.example.org"
	if got := c.ReportsFrom(); got != "postmaster@example.org" {
		t.Errorf("ReportsFrom() with server.hostname mx.example.org = %q", got)
	}
}

// reports.from is the envelope sender and From: of the reports: an
// address envaddr accepts (the one parser), nothing with a display name.
func TestReportsFromMustBeAnAddress(t *testing.T) {
	for from, ok := range map[string]bool{
		"reports@example.org":           true,
		"Reports@Example.ORG":           true,
		"Reports <reports@example.org>": false,
		"reports":                       false,
		"a b@example.org":               false,
		"a@b@example.org":               false,
		"user%other@example.org":        false,
	} {
		c := Defaults()
		c.Reports.From = from
		if got := len(c.checkReports()) == 0; got != ok {
			t.Errorf("reports.from = %q: accepted %v, want %v", from, got, ok)
		}
	}
}
