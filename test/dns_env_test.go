package test

import (
	"fmt"
	"strings"
	"testing"
)

// deadRemoteDNS is the [dns] section for a test daemon whose mail to other
// domains must wait: a loopback DNS server that answers SERVFAIL for the
// remote domains the tests write to, so that the relay defers them with a
// DNS reason. No test ever asks the system's resolver (loopback only).
func deadRemoteDNS(t *testing.T, extra string) string {
	t.Helper()
	if strings.Contains(extra, "[dns]") {
		return ""
	}
	s := startDNS(t)
	for _, d := range []string{"remote.example", "example.org", "example.net", "example.com"} {
		s.ServFail(d, true)
	}
	return fmt.Sprintf("\n[dns]\nresolver = %q\ntimeout = \"2s\"\n", s.Addr())
}
