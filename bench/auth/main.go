// Command auth drives many password logins at once against one server and
// reports what they cost: ebb's submission AUTH PLAIN (implicit TLS) or
// Dovecot's IMAP LOGIN, wrong and right passwords mixed, with the peak
// resident memory of the server's process tree sampled while they run.
//
//	go run ./bench/auth -proto smtp -addr 127.0.0.1:4650 -pid 1234 -user u@x -pass pw -n 1000 -p 100
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	proto := flag.String("proto", "smtp", "smtp (AUTH PLAIN over implicit TLS) or imap (LOGIN in the clear)")
	addr := flag.String("addr", "", "host:port")
	pid := flag.Int("pid", 0, "the server's pid: its process tree's resident memory is sampled")
	user := flag.String("user", "", "the account")
	pass := flag.String("pass", "", "its password")
	n := flag.Int("n", 1000, "login attempts")
	p := flag.Int("p", 100, "attempts at once")
	right := flag.Int("right-every", 4, "every N-th attempt has the right password (0: none)")
	label := flag.String("label", "", "name of the run in the output")
	flag.Parse()

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r := treeRSS(*pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	before := treeRSS(*pid)

	type result struct {
		code int
		took time.Duration
	}
	results := make([]result, *n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				pw := fmt.Sprintf("wrong-%d", i)
				if *right > 0 && i%*right == 0 {
					pw = *pass
				}
				// Each attempt from its own loopback address, as a botnet
				// would: the per-IP limits do not mask the hashing cost.
				src := net.IPv4(127, 1, byte(i/250), byte(1+i%250))
				t0 := time.Now()
				code, err := attempt(*proto, *addr, src, *user, pw)
				if err != nil {
					code = 0
				}
				results[i] = result{code, time.Since(t0)}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-sampled

	codes := map[int]int{}
	var lat []time.Duration
	verified := 0 // answers that needed the hash: right or wrong
	for _, r := range results {
		codes[r.code]++
		lat = append(lat, r.took)
		if r.code == 235 || r.code == 535 || r.code == 1 || r.code == 2 {
			verified++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var cs []string
	for c, k := range codes {
		cs = append(cs, fmt.Sprintf("%d×%d", k, c))
	}
	sort.Strings(cs)
	fmt.Printf("%-28s %5d logins, %3d at once: %5.1f verified/s, p50 %6s, p99 %6s, replies %s; RSS %d MiB at start, peak %d MiB\n",
		*label, *n, *p, float64(verified)/elapsed.Seconds(), lat[len(lat)/2].Round(time.Millisecond),
		lat[len(lat)*99/100].Round(time.Millisecond), strings.Join(cs, " "), before>>20, peak.Load()>>20)
}

// attempt makes one login and returns the reply code (SMTP) or 1 for OK,
// 2 for NO (IMAP); 0 is a connection that failed or timed out.
func attempt(proto, addr string, src net.IP, user, pass string) (int, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	if proto == "smtp" {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		br := bufio.NewReader(tc)
		if _, err := reply(br); err != nil {
			return 0, err
		}
		fmt.Fprintf(tc, "EHLO bench\r\n")
		if _, err := reply(br); err != nil {
			return 0, err
		}
		fmt.Fprintf(tc, "AUTH PLAIN %s\r\n", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
		code, err := reply(br)
		fmt.Fprintf(tc, "QUIT\r\n")
		return code, err
	}
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		return 0, err
	}
	fmt.Fprintf(c, "a LOGIN %q %q\r\n", user, pass)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		switch {
		case strings.HasPrefix(l, "a OK"):
			return 1, nil
		case strings.HasPrefix(l, "a NO"), strings.HasPrefix(l, "a BAD"):
			return 2, nil
		}
	}
}

// reply reads an SMTP reply and returns its code.
func reply(br *bufio.Reader) (int, error) {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		code, _ := strconv.Atoi(l[:min(3, len(l))])
		return code, nil
	}
}

// treeRSS is the resident memory of pid and all its descendants.
func treeRSS(root int) int64 {
	if root == 0 {
		return 0
	}
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	var sum int64
	for pid := range parent {
		for q := pid; q > 1; q = parent[q] {
			if q == root {
				sum += rss(pid)
				break
			}
		}
	}
	return sum
}

func rss(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
