// Command resolvertrap stands in for the host's resolver while the tests
// run (test/run-all.sh points /etc/resolv.conf at it inside the tests'
// network namespace): it answers every query REFUSED at once and writes
// each question to its log with the process that asked (its command line
// names the test's temp dir), so the test command can name what a test
// asked of the host's resolver instead of a test DNS server
// (internal/dnstest) or a config that needs none.
//
//	resolvertrap -listen 127.0.0.53:53 -log FILE
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

func main() {
	listen := flag.String("listen", "127.0.0.53:53", "loopback address to answer on (UDP and TCP)")
	logPath := flag.String("log", "", "file to append each question to")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*listen); err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("resolvertrap: -listen %q: a loopback host:port", *listen)
	}
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatalf("resolvertrap: %v", err)
	}
	var mu sync.Mutex
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		// The asker waits for the answer: its socket is there to be found.
		who := asker(w.RemoteAddr())
		mu.Lock()
		for _, q := range req.Question {
			fmt.Fprintf(f, "%s %s %s asked by %s\n", time.Now().Format("15:04:05.000"), q.Name, dns.TypeToString[q.Qtype], who)
		}
		mu.Unlock()
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		w.WriteMsg(m)
	})
	errs := make(chan error, 2)
	ready := make(chan struct{}, 2)
	for _, network := range []string{"udp", "tcp"} {
		s := &dns.Server{Addr: *listen, Net: network, Handler: handler, NotifyStartedFunc: func() { ready <- struct{}{} }}
		go func() { errs <- s.ListenAndServe() }()
	}
	for range 2 {
		select {
		case <-ready:
		case err := <-errs:
			log.Fatalf("resolvertrap: %v", err)
		}
	}
	// Ready: the test command waits for this line before it starts the tests.
	fmt.Println("resolvertrap: listening on", *listen)
	log.Fatalf("resolvertrap: %v", <-errs)
}

// asker is the command line of the process whose socket is addr (from
// /proc/net/{udp,tcp}{,6} and /proc/PID/fd), or "an unknown process".
func asker(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "an unknown process"
	}
	inode := ""
	for _, table := range []string{"udp", "udp6", "tcp", "tcp6"} {
		if inode = socketInode("/proc/net/"+table, ap.Port()); inode != "" {
			break
		}
	}
	if inode == "" {
		return "an unknown process (socket gone)"
	}
	want := "socket:[" + inode + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == want {
			dir := filepath.Dir(filepath.Dir(fd))
			b, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
			return fmt.Sprintf("pid %s: %s", filepath.Base(dir), strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))))
		}
	}
	return "an unknown process (inode " + inode + ")"
}

// socketInode finds the local port in a /proc/net table ("sl local_address
// rem_address st tx:rx tr:when retrnsmt uid timeout inode …").
func socketInode(table string, port uint16) string {
	b, err := os.ReadFile(table)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, p, ok := strings.Cut(f[1], ":")
		if n, err := strconv.ParseUint(p, 16, 16); ok && err == nil && uint16(n) == port && f[9] != "0" {
			return f[9]
		}
	}
	return ""
}
