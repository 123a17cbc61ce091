package smtp

import (
	"bufio"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A client that trickles one byte at a time on port 25 cannot hold its
// connection slot: each line must finish within smtp.command_timeout of the
// previous one, however often bytes arrive.
func TestServeInboundSlowClientIsCutOff(t *testing.T) {
	// Not t.Parallel: it bounds how long a slow client is kept: alone.
	e := harness.NewQueueEnv(t, "")
	b, _ := os.ReadFile(e.Conf)
	os.WriteFile(e.Conf, []byte(strings.Replace(string(b), "shutdown_timeout = \"5s\"", "shutdown_timeout = \"5s\"\ncommand_timeout = \"1s\"", 1)), 0o644)
	e.Start()

	c, err := net.Dial("tcp", e.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if greet, _ := br.ReadString('\n'); !strings.HasPrefix(greet, "220") {
		t.Fatalf("greeting %q", greet)
	}
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		for {
			if _, err := br.ReadString('\n'); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	// One byte every 300 ms, never a whole line: each byte alone would move
	// a plain read deadline forward for ever.
	line := "EHLO " + strings.Repeat("x", 40)
	for i := 0; i < len(line); i++ {
		select {
		case d := <-closed:
			if d > 3*time.Second {
				t.Errorf("cut off after %s, want about the 1s command timeout", d)
			}
			return
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := c.Write([]byte{line[i]}); err != nil {
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("cut off after %s, want about the 1s command timeout", d)
			}
			return
		}
	}
	t.Fatalf("a client trickling one byte per 300 ms kept its connection for %s", time.Since(start))
}
