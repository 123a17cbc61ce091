// Command spawn starts a delivery agent once per message, as an MTA's pipe
// transport does (Postfix pipe(8), Exim's pipe, fetchmail's mda): fork and
// exec straight into the agent, already as the mail user, its stdin the
// message file, no shell in between. bench/deliver/run.sh uses it so that
// the figures are the agents' own time and not a shell loop's fork.
//
//	spawn -n 100 [-p 4] -uid 993 -gid 992 -in msg.eml -- AGENT ARGS...
//
// It prints the wall time of the N runs in seconds, then the median, 10th
// and 90th percentile of one run in milliseconds; it stops at the first
// run that does not exit 0. With -p P it keeps P runs going at once, as an
// MTA delivers to several recipients in parallel (Postfix's default
// destination concurrency is 20).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 100, "how many runs")
	in := flag.String("in", "/dev/null", "the file each run reads as stdin")
	uid := flag.Int("uid", -1, "run as this uid (with -gid; no supplementary groups)")
	gid := flag.Int("gid", -1, "run as this gid")
	par := flag.Int("p", 1, "how many runs at once")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: spawn [-n N] [-uid U -gid G] [-in FILE] -- AGENT [ARGS...]")
		os.Exit(64)
	}
	if *par < 1 {
		*par = 1
	}
	var (
		mu   sync.Mutex
		runs = make([]time.Duration, 0, *n)
		next int
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= *n {
					return
				}
				d, err := run(*in, *uid, *gid)
				if err != nil {
					fmt.Fprintf(os.Stderr, "spawn: run %d of %s: %v\n", i+1, flag.Arg(0), err)
					os.Exit(1)
				}
				mu.Lock()
				runs = append(runs, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(runs)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("%.4f %.3f %.3f %.3f\n", total.Seconds(), ms(runs[len(runs)/2]), ms(runs[len(runs)/10]), ms(runs[len(runs)*9/10]))
}

// run starts the agent once with the file in as its stdin and returns how
// long it took.
func run(in string, uid, gid int) (time.Duration, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	c := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	c.Stdin = f
	c.Stderr = os.Stderr
	c.Env = os.Environ()
	if uid >= 0 {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	}
	t := time.Now()
	err = c.Run()
	return time.Since(t), err
}
