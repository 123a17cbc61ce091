package dnsresolve

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Without dns.resolver the client asks the servers of resolv.conf, in
// order, IPv6 ones bracketed; with no usable file, the local server.
func TestClientSystemServers(t *testing.T) {
	old := resolvConf
	defer func() { resolvConf = old }()
	resolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	if got := NewClientAt("", 0).servers(); !slices.Equal(got, []string{"127.0.0.1:53", "[::1]:53"}) {
		t.Errorf("no file: %v", got)
	}
	os.WriteFile(resolvConf, []byte("search example.org\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644)
	if got := NewClientAt("", 0).servers(); !slices.Equal(got, []string{"192.0.2.53:53", "[2001:db8::53]:53"}) {
		t.Errorf("resolv.conf: %v", got)
	}
	if got := NewClientAt("127.0.0.1:5353", 0).servers(); !slices.Equal(got, []string{"127.0.0.1:5353"}) {
		t.Errorf("dns.resolver: %v", got)
	}
}
