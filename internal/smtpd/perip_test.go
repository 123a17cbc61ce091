package smtpd

import "testing"

// smtp.max_connections_per_ip counts a client's IPv4 address, or its whole
// IPv6 /64 (as its refusal says, and as failed logins are counted): a host
// taking a new address of its /64 for each connection is held too.
func TestMaxConnectionsPerIPCountsTheSlash64(t *testing.T) {
	srv, err := New(Config{Options: Options{Hostname: "mx.example.test", MaxConnections: 100, MaxPerIP: 2}, Spool: &fileSpool{dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	admit := func(ip string) string {
		why, _ := srv.tryAdmit(ip)
		return why
	}
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if why := admit(ip); why != "" {
			t.Fatalf("%s refused (%s) below the limit", ip, why)
		}
	}
	if why := admit("2001:db8:1:2:abcd::5"); why != "per_ip" {
		t.Fatalf("a third address of the same /64: %q, want per_ip", why)
	}
	if why := admit("2001:db8:1:3::1"); why != "" {
		t.Fatalf("another /64 refused: %s", why)
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.1"} {
		if why := admit(ip); why != "" {
			t.Fatalf("%s refused (%s) below the limit", ip, why)
		}
	}
	if why := admit("192.0.2.1"); why != "per_ip" {
		t.Fatalf("third connection of one IPv4 address: %q, want per_ip", why)
	}
	if why := admit("192.0.2.2"); why != "" {
		t.Fatalf("the next IPv4 address refused: %s", why)
	}
	// a connection of the /64 that ends frees a slot for any address of it
	srv.release(&conn{ip: "2001:db8:1:2:ffff::9", listener: &listener{srv: srv}})
	if why := admit("2001:db8:1:2::77"); why != "" {
		t.Fatalf("after a release: %s", why)
	}
	if why := admit("2001:db8:1:2::78"); why != "per_ip" {
		t.Fatalf("over the limit again: %q, want per_ip", why)
	}
}
