package relay

import (
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzReadReply feeds arbitrary server output to the reply reader: it
// must return a reply with a valid code or an error, never panic or
// hang, and keep the enhanced code only when its class matches.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n",
		"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
		"451 4.7.1 greylisted\r\n",
		"550-5.1.1 no such\r\n550 5.1.1 user\r\n",
		"421 4.3.2 shutting down\r\n",
		"250-a\r\n251 b\r\n",
		"25\r\n",
		"999 x\r\n",
		"250 2.0.0\r\n",
		"554 4.0.0 mismatched class\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			b.Write([]byte(in))
			b.Close()
		}()
		c := newConn(a, "mx.test", "127.0.0.1", "25")
		r, err := c.readReply(time.Second)
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d from %q", r.Code, in)
		}
		if r.Enhanced != "" && !strings.HasPrefix(r.Enhanced, string(rune('0'+r.Code/100))+".") {
			t.Fatalf("enhanced %q with code %d", r.Enhanced, r.Code)
		}
	})
}

// FuzzXtext: the encoding is printable ASCII without '+'/'=' except as
// escapes, and decodes back.
func FuzzXtext(f *testing.F) {
	f.Add("alice@example.net")
	f.Add("a+b=c d\x00é")
	f.Fuzz(func(t *testing.T, s string) {
		x := xtext(s)
		var dec strings.Builder
		for i := 0; i < len(x); i++ {
			ch := x[i]
			if ch < '!' || ch > '~' || ch == '=' {
				t.Fatalf("%q in %q", ch, x)
			}
			if ch == '+' {
				if i+2 >= len(x)+0 && i+2 > len(x)-1 {
					t.Fatalf("short escape in %q", x)
				}
				var v byte
				for _, h := range x[i+1 : i+3] {
					v <<= 4
					switch {
					case h >= '0' && h <= '9':
						v |= byte(h - '0')
					case h >= 'A' && h <= 'F':
						v |= byte(h - 'A' + 10)
					default:
						t.Fatalf("bad hex in %q", x)
					}
				}
				dec.WriteByte(v)
				i += 2
				continue
			}
			dec.WriteByte(ch)
		}
		if dec.String() != s {
			t.Fatalf("%q → %q → %q", s, x, dec.String())
		}
	})
}
