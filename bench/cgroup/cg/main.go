// Command cg runs a benchmark's system under test in a control group of its
// own and reads what it cost (package bench/cgroup: CPU time, memory
// without the page cache, cgroup v1 or v2). The scripts in bench/ use it:
//
//	cg version                 # "v1 (cpuacct, memory)" or "v2"; exit 1 when neither works
//	cg create NAME             # a fresh group (an old one of that name is removed)
//	cg exec NAME -- CMD ARGS   # run CMD in the group (its children too)
//	cg cpu NAME                # CPU time so far: total_ns user_ns system_ns
//	cg idle NAME               # wait until the group stops using CPU, then as cg cpu
//	cg mem NAME                # sample memory until SIGTERM/SIGINT, then print
//	                           # peak_kib (without page cache) and kernel_peak_kib (with it)
//	cg rm NAME                 # remove the group (moving leftovers out)
//
// CPU per message is the difference of two readings divided by the
// messages delivered between them; cg idle lets the system finish what it
// does after the last message is counted (removing spool files, qmgr's
// bookkeeping) before the second reading.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/bench/cgroup"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("cg "+cmd, flag.ExitOnError)
	interval := fs.Duration("interval", 20*time.Millisecond, "cg mem: time between samples")
	window := fs.Duration("window", 250*time.Millisecond, "cg idle: the group is idle when it used less than -threshold in this long")
	threshold := fs.Duration("threshold", 2*time.Millisecond, "cg idle: CPU time per window that still counts as idle")
	timeout := fs.Duration("timeout", 20*time.Second, "cg idle: give up waiting after this long (and print the reading)")
	fs.Parse(args)
	if cmd == "version" {
		v, err := cgroup.Version()
		if err != nil {
			fail(err)
		}
		if v == 1 {
			fmt.Println("v1 (cpuacct, memory)")
		} else {
			fmt.Println("v2")
		}
		return
	}
	if fs.NArg() < 1 {
		usage()
	}
	name := fs.Arg(0)
	switch cmd {
	case "create":
		_, err := cgroup.Create(name)
		check(err)
	case "rm":
		g, err := cgroup.Lookup(name)
		check(err)
		check(g.Remove())
	case "exec":
		rest := fs.Args()[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			usage()
		}
		g, err := cgroup.Lookup(name)
		check(err)
		check(g.AddProcess(os.Getpid()))
		path, err := exec.LookPath(rest[0])
		check(err)
		check(syscall.Exec(path, rest, os.Environ()))
	case "cpu":
		g, err := cgroup.Lookup(name)
		check(err)
		c, err := g.CPU()
		check(err)
		printCPU(c)
	case "idle":
		g, err := cgroup.Lookup(name)
		check(err)
		c, err := g.CPU()
		check(err)
		deadline := time.Now().Add(*timeout)
		for time.Now().Before(deadline) {
			time.Sleep(*window)
			n, err := g.CPU()
			check(err)
			used := n.Total - c.Total
			c = n
			if used < *threshold {
				break
			}
		}
		printCPU(c)
	case "mem":
		g, err := cgroup.Lookup(name)
		check(err)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		s := g.Sample(*interval)
		<-stop
		peak, err := s.Stop()
		check(err)
		fmt.Printf("%d %d\n", peak/1024, g.KernelPeak()/1024)
	default:
		usage()
	}
}

func printCPU(c cgroup.CPU) {
	fmt.Printf("%d %d %d\n", c.Total.Nanoseconds(), c.User.Nanoseconds(), c.System.Nanoseconds())
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cg:", err)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cg version | create NAME | exec NAME -- CMD... | cpu NAME | idle NAME | mem NAME | rm NAME")
	os.Exit(64)
}
