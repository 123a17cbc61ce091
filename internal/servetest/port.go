package servetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a TCP port that is free on every one of ips (127.0.0.1
// when none is named), for a test that must write a port into a
// configuration before the program that listens on it starts.
//
// The port is never one the kernel hands out by itself: it is taken from
// outside net.ipv4.ip_local_port_range, the range that bind to port 0 and
// the source ports of outgoing connections come from. A port from inside
// that range, seen free and let go, could be given to any other process's
// bind to port 0 (a test server in a package running in parallel) before
// ebb bound it: "address already in use" for a test that did nothing
// wrong. Outside the range only an explicit bind takes it, and every test
// process claims its ports (below), so two test processes never pick the
// same one.
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	port, err := FreePortErr(ips...)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePortErr is FreePort for code without a testing.TB (services started
// once per package run).
func FreePortErr(ips ...string) (int, error) {
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	lo, hi := quietRange()
	given.mu.Lock()
	defer given.mu.Unlock()
	for range 500 {
		port := lo + rand.IntN(hi-lo+1)
		if given.m[port] {
			continue
		}
		// A port is claimed across processes by an abstract unix socket
		// named for it, held until this process ends (the kernel drops it
		// then, whatever ends the process): other test processes, and
		// other people's runs on this machine, skip it.
		claim, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("@ebb-test-port-%d", port), Net: "unix"})
		if err != nil {
			continue
		}
		if !freeOn(port, ips) {
			claim.Close() // a service of the machine's own listens there
			continue
		}
		given.m[port] = true
		given.claims = append(given.claims, claim)
		return port, nil
	}
	return 0, fmt.Errorf("FreePort: no port in %d-%d free on %v after 500 tries", lo, hi, ips)
}

// freeOn reports whether port can be listened on, for TCP and UDP (a DNS
// server wants both), on each of ips now.
func freeOn(port int, ips []string) bool {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// quietRange is the range FreePort picks from: below the kernel's
// ephemeral range (above it when that starts too low to leave room),
// above the ports services of the machine commonly use.
func quietRange() (lo, hi int) {
	elo, ehi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			b, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && a <= b {
				elo, ehi = a, b
			}
		}
	}
	switch {
	case elo-1 >= 20000+2000:
		return 20000, elo - 1
	case 65535-ehi >= 2000:
		return ehi + 1, 65535
	default: // no quiet room: the whole unprivileged range, and luck
		return 1024, 65535
	}
}

var given = struct {
	mu     sync.Mutex
	m      map[int]bool
	claims []*net.UnixListener
}{m: map[int]bool{}}
