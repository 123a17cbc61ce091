// Command dnsserver is internal/dnstest as a small standalone program for
// bench/relay: a DNS server on a loopback address serving the records
// given as arguments (zone-file syntax), until it is killed.
//
//	go run ./bench/relay/dnsserver -listen 127.0.0.1:5353 "d0.bench. MX 10 mx.d0.bench." "mx.d0.bench. A 127.0.0.1"
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ebbmail/ebb/internal/dnstest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback host:port to serve on (UDP and TCP)")
	flag.Parse()
	s, err := dnstest.StartOn(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsserver:", err)
		os.Exit(1)
	}
	if err := s.Add(flag.Args()...); err != nil {
		fmt.Fprintln(os.Stderr, "dnsserver:", err)
		os.Exit(1)
	}
	fmt.Println(s.Addr())
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
	s.Close()
}
