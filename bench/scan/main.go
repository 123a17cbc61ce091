// Command scan is the two sides of bench/scan/run.sh:
//
//	scan -mode gen   -dir DIR -n 200            writes n test messages (ham, ~4 KiB, a few with attachments)
//	scan -mode smtp  -dir DIR -addr A -p 4      sends every file over SMTP, p sessions at once
//	scan -mode pipe  -dir DIR -p 4 -spamd A -clamdconf F -out D
//	                                            the seed's way: per message `spamc` then `clamdscan --stream`, then written out
//
// Each prints one line: "<mode> <messages> msgs in <seconds> s = <rate> msgs/s".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	mode := flag.String("mode", "smtp", "gen, smtp or pipe")
	dir := flag.String("dir", "", "the messages")
	n := flag.Int("n", 200, "messages to generate")
	addr := flag.String("addr", "", "SMTP host:port")
	p := flag.Int("p", 4, "at once")
	spamd := flag.String("spamd", "", "spamd host:port (pipe)")
	clamdConf := flag.String("clamdconf", "", "clamdscan's config file (pipe)")
	out := flag.String("out", "", "where the pipe writes the messages")
	rcpt := flag.String("rcpt", "bench@example.test", "recipient")
	flag.Parse()
	switch *mode {
	case "gen":
		gen(*dir, *n)
		return
	}
	files, _ := filepath.Glob(filepath.Join(*dir, "*.eml"))
	sort.Strings(files)
	work := make(chan string)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *p; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				var err error
				if *mode == "pipe" {
					err = pipe(f, *spamd, *clamdConf, *out)
				} else {
					err = send(*addr, *rcpt, f)
				}
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, f, err)
				}
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	d := time.Since(start).Seconds()
	fmt.Printf("%s %d msgs in %.2f s = %.1f msgs/s (%d failed)\n", *mode, len(files), d, float64(len(files))/d, failed.Load())
}

func gen(dir string, n int) {
	os.MkdirAll(dir, 0o755)
	words := strings.Fields("the quick brown fox jumps over the lazy dog while our meeting on friday moves to the large room near the kitchen please bring the quarterly figures and a laptop")
	for i := 0; i < n; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\nTo: Bench <bench@example.test>\r\nSubject: note %d about the meeting\r\nMessage-ID: <bench.%d@example.org>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
			i, i, i, i, time.Now().UTC().Format(time.RFC1123Z))
		for l := 0; l < 60; l++ {
			for w := 0; w < 10; w++ {
				b.WriteString(words[(i+l*7+w*3)%len(words)])
				b.WriteByte(' ')
			}
			b.WriteString("\r\n")
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.eml", i)), []byte(b.String()), 0o644)
	}
}

// pipe is the seed's filter: spamc (PROCESS, the rewritten message on
// stdout) | clamdscan --stream -, then the result written to a file.
func pipe(f, spamd, clamdConf, out string) error {
	host, port, _ := net.SplitHostPort(spamd)
	in, err := os.Open(f)
	if err != nil {
		return err
	}
	defer in.Close()
	sc := exec.Command("spamc", "-d", host, "-p", port)
	sc.Stdin = in
	processed, err := sc.Output()
	if err != nil {
		return fmt.Errorf("spamc: %w", err)
	}
	cs := exec.Command("clamdscan", "--config-file="+clamdConf, "--stream", "--no-summary", "-")
	cs.Stdin = strings.NewReader(string(processed))
	if o, err := cs.CombinedOutput(); err != nil {
		return fmt.Errorf("clamdscan: %w: %s", err, o)
	}
	return os.WriteFile(filepath.Join(out, filepath.Base(f)), processed, 0o644)
}

func send(addr, rcpt, f string) error {
	data, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	br := bufio.NewReader(c)
	reply := func() (string, error) {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return l, err
			}
			last = l
			if len(l) < 4 || l[3] != '-' {
				return last, nil
			}
		}
	}
	step := func(cmd, want string) error {
		if cmd != "" {
			fmt.Fprint(c, cmd+"\r\n")
		}
		r, err := reply()
		if err != nil || !strings.HasPrefix(r, want) {
			return fmt.Errorf("%q: %q %v", cmd, r, err)
		}
		return nil
	}
	for _, s := range [][2]string{{"", "220"}, {"EHLO bench.example.org", "250"}, {"MAIL FROM:<sender@example.org>", "250"},
		{"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"}} {
		if err := step(s[0], s[1]); err != nil {
			return err
		}
	}
	// The generated messages have no line starting with a dot.
	c.Write(data)
	return step(".", "250")
}
