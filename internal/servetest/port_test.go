package servetest

import (
	"net"
	"strconv"
	"testing"
)

// The ports FreePort hands out are outside the kernel's own range, never
// the same twice, and free on every address asked for.
func TestFreePortOutsideTheKernelsRange(t *testing.T) {
	lo, hi := quietRange()
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t, "127.0.0.1", "127.0.0.2")
		if p < lo || p > hi {
			t.Fatalf("port %d outside %d-%d", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	// a bind to port 0 never lands in the quiet range
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p >= lo && p <= hi {
			t.Fatalf("bind to port 0 got %d, inside the range FreePort picks from (%d-%d)", p, lo, hi)
		}
	}
	// and a port taken by a listener is not handed out
	l, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(lo))
	if err == nil {
		defer l.Close()
		for range 200 {
			if p := FreePort(t, "127.0.0.2"); p == lo {
				t.Fatalf("port %d handed out while listened on", p)
			}
		}
	}
}
