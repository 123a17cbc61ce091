package queue

import (
	"context"
	"strings"
	"testing"
)

// The queue notes 8-bit data as it spools it, declared or not, so that the
// relay declares it onward or returns it to a 7-bit server (RFC 6152).
func TestReceiveNotesEightBitData(t *testing.T) {
	q := openQueue(t, testConfig(t))
	for _, c := range []struct {
		data, body string
		eight      bool
	}{
		{"Subject: x\r\n\r\nplain\r\n", "", false},
		{"Subject: x\r\n\r\ngrüße\r\n", "", true},
		{"Subject: x\r\n\r\n" + strings.Repeat("a", 200<<10) + "\xe9\r\n", "7BIT", true}, // past the first buffer, declared 7BIT
		{"Subject: gr\xc3\xbc\xc3\x9fe\r\n\r\nx\r\n", "8BITMIME", true},
	} {
		id, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}, BodyType: c.body},
			strings.NewReader(c.data), ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ReadMessage(q.spool, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Envelope.EightBit != c.eight {
			t.Errorf("%.30q (declared %q): EightBit %v, want %v", c.data, c.body, m.Envelope.EightBit, c.eight)
		}
		q.Delete(id)
	}
}

func FuzzHasEightBit(f *testing.F) {
	f.Add([]byte("plain ascii text"))
	f.Add([]byte("0123456\x80"))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789\xff"))
	f.Add([]byte("0123456789abcdef0123456789abcde\x80xyz"))
	f.Fuzz(func(t *testing.T, p []byte) {
		want := false
		for _, b := range p {
			want = want || b >= 0x80
		}
		if hasEightBit(p) != want {
			t.Fatalf("hasEightBit(%q) = %v", p, !want)
		}
	})
}
