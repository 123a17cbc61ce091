// Command servecost measures what the checks on port 25 (SPF, DKIM, DMARC)
// cost ebb serve: the same N messages, DKIM-signed by a hosted-elsewhere
// domain that publishes SPF, a key and DMARC in a loopback test DNS, are
// sent over S concurrent SMTP sessions to ebb serve with auth.check = false
// and then true; it prints delivered messages per second for both and the
// ratio. bench/dkim/run.sh runs it after the in-process part.
//
//	go run ./bench/dkim/servecost EBB_BINARY DIR [N] [S] [SIZE]
package main

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/test/harness"
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	bin, dir := os.Args[1], os.Args[2]
	n, s, size := 1000, 10, 4<<10
	if len(os.Args) > 3 {
		n, _ = strconv.Atoi(os.Args[3])
	}
	if len(os.Args) > 4 {
		s, _ = strconv.Atoi(os.Args[4])
	}
	if len(os.Args) > 5 {
		size, _ = strconv.Atoi(os.Args[5])
	}
	dns, err := dnstest.Start()
	must(err)
	defer dns.Close()
	// The sender's domain: SPF for loopback, a DMARC policy, an Ed25519 key.
	keys := filepath.Join(dir, "senderkeys")
	sg, _ := msgauth.GenerateKey("ed25519")
	p, err := msgauth.WriteKey(keys, "sender.example", "s1", sg, false, nil)
	must(err)
	k, _ := msgauth.LoadKey(p)
	dns.MustAdd(k.ZoneLine(), `sender.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.sender.example. 300 IN TXT "v=DMARC1; p=reject"`)
	var b strings.Builder
	b.WriteString("From: news@sender.example\r\nTo: bench@example.test\r\nSubject: bench\r\n" +
		"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMessage-ID: <b@sender.example>\r\n\r\n")
	for b.Len() < size {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	body := b.String()
	sig, err := (&msgauth.Signer{KeyDir: keys}).Sign(strings.NewReader(body))
	must(err)
	msg := []byte(sig + body)

	rates := map[bool]float64{}
	for _, check := range []bool{false, true} {
		rates[check] = run(bin, filepath.Join(dir, fmt.Sprint("check-", check)), dns.Addr(), check, msg, n, s)
		fmt.Printf("auth.check = %-5v %d messages of %d bytes over %d sessions: %.0f msgs/s\n", check, n, len(msg), s, rates[check])
	}
	fmt.Printf("with checks / without: %.2f (cost %.1f%%)\n", rates[true]/rates[false], 100*(1-rates[true]/rates[false]))
}

func run(bin, dir, dnsAddr string, check bool, msg []byte, n, s int) float64 {
	must(os.MkdirAll(dir, 0o755))
	port := 30000 + os.Getpid()%5000
	if check {
		port++
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(dir, "ebb.toml")
	user, _ := os.LookupEnv("EBB_BENCH_USER")
	if user == "" {
		user = "root"
	}
	must(os.WriteFile(conf, []byte(harness.ConfHead("bench.example.net", user, dir)+fmt.Sprintf(`[smtp]
listen = [%q]
max_connections = 500
max_connections_per_ip = 500
[metrics]
listen = ""
[log]
level = %q
[dns]
resolver = %q
[auth]
check = %v
`, addr, logLevel(), dnsAddr, check)), 0o644))
	for _, a := range [][]string{{"domain", "add", "-c", conf, "example.test"}, {"user", "add", "-c", conf, "--no-password", "bench@example.test"}} {
		out, err := exec.Command(bin, a...).CombinedOutput()
		if err != nil {
			panic(fmt.Sprintf("%v: %s", a, out))
		}
	}
	srv := exec.Command(bin, "serve", "-c", conf)
	srv.Stderr, srv.Stdout = os.Stderr, os.Stderr
	must(srv.Start())
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	for i := 0; ; i++ {
		if c, err := smtp.Dial(addr); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			panic("ebb serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	newDir := filepath.Join(dir, "mail", "example.test", "bench", "Maildir", "new")
	start := time.Now()
	var wg sync.WaitGroup
	per := n / s
	for range s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(addr)
			must(err)
			must(c.Hello("mx.sender.example"))
			for range per {
				must(c.Mail("news@sender.example"))
				must(c.Rcpt("bench@example.test"))
				w, err := c.Data()
				must(err)
				_, err = w.Write(msg)
				must(err)
				must(w.Close())
			}
			c.Quit()
		}()
	}
	wg.Wait()
	for {
		ents, _ := os.ReadDir(newDir)
		if len(ents) >= per*s {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return float64(per*s) / time.Since(start).Seconds()
}

// logLevel is EBB_BENCH_LOG (info shows each message's time in ms=), or warn.
func logLevel() string {
	if l := os.Getenv("EBB_BENCH_LOG"); l != "" {
		return l
	}
	return "warn"
}
