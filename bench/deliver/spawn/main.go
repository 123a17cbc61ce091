// Command spawn starts a delivery agent once per message, as an MTA's pipe
// transport does (Postfix pipe(8), Exim's pipe, fetchmail's mda): fork and
// exec straight into the agent, already as the mail user, its stdin the
// message file, no shell in between. bench/deliver/run.sh uses it so that
// the figures are the agents' own time and not a shell loop's fork.
//
//	spawn -n 100 [-p 4] -uid 993 -gid 992 -in msg.eml -- AGENT ARGS...
//
// It prints the wall time of the N runs in seconds, then the median, 10th
// and 90th percentile of one run in milliseconds, then the largest peak
// RSS of one run (KiB, the kernel's maxrss of the agent and what it
// waited for); it stops at the first run that does not exit 0. With -p P
// it keeps P runs going at once, as an MTA delivers to several recipients
// in parallel (Postfix's default destination concurrency is 20).
//
// With -cgroup NAME every agent process is born in the control group NAME
// (made by bench/cgroup/cg create), so that the script can read the
// agents' own CPU time from it. With cgroup v2 the child is cloned into
// the group (clone3's CLONE_INTO_CGROUP); v1 has no such call, so the
// thread that forks is moved into the group just for the fork and back
// out once the child runs: the fork's kernel work counts for the agent,
// spawn's waiting does not.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/bench/cgroup"
)

func main() {
	n := flag.Int("n", 100, "how many runs")
	in := flag.String("in", "/dev/null", "the file each run reads as stdin")
	uid := flag.Int("uid", -1, "run as this uid (with -gid; no supplementary groups)")
	gid := flag.Int("gid", -1, "run as this gid")
	par := flag.Int("p", 1, "how many runs at once")
	cgName := flag.String("cgroup", "", "start every run in this control group (bench/cgroup/cg create NAME)")
	flag.Parse()
	var cg *cgroup.Group
	if *cgName != "" {
		var err error
		if cg, err = cgroup.Lookup(*cgName); err != nil {
			fmt.Fprintln(os.Stderr, "spawn:", err)
			os.Exit(1)
		}
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: spawn [-n N] [-uid U -gid G] [-in FILE] -- AGENT [ARGS...]")
		os.Exit(64)
	}
	if *par < 1 {
		*par = 1
	}
	var (
		mu     sync.Mutex
		runs   = make([]time.Duration, 0, *n)
		maxRSS int64
		next   int
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The fork happens on this goroutine's thread (v1 moves it).
			runtime.LockOSThread()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= *n {
					return
				}
				d, rss, err := run(*in, *uid, *gid, cg)
				if err != nil {
					fmt.Fprintf(os.Stderr, "spawn: run %d of %s: %v\n", i+1, flag.Arg(0), err)
					os.Exit(1)
				}
				mu.Lock()
				runs = append(runs, d)
				maxRSS = max(maxRSS, rss)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(runs)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("%.4f %.3f %.3f %.3f %d\n", total.Seconds(), ms(runs[len(runs)/2]), ms(runs[len(runs)/10]), ms(runs[len(runs)*9/10]), maxRSS)
}

// run starts the agent once with the file in as its stdin and returns how
// long it took and its peak RSS (KiB).
func run(in string, uid, gid int, cg *cgroup.Group) (time.Duration, int64, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	c := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	c.Stdin = f
	c.Stderr = os.Stderr
	c.Env = os.Environ()
	c.SysProcAttr = &syscall.SysProcAttr{}
	if uid >= 0 {
		c.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	tid := syscall.Gettid()
	if cg != nil && cg.V2 {
		d, err := os.Open(cg.CPUDir)
		if err != nil {
			return 0, 0, err
		}
		defer d.Close()
		c.SysProcAttr.UseCgroupFD, c.SysProcAttr.CgroupFD = true, int(d.Fd())
	} else if cg != nil {
		if err := cg.AddThread(tid); err != nil {
			return 0, 0, err
		}
	}
	t := time.Now()
	err = c.Start()
	if cg != nil && !cg.V2 {
		if lerr := cg.LeaveThread(tid); lerr != nil && err == nil {
			err = lerr
		}
	}
	if err == nil {
		err = c.Wait()
	}
	d := time.Since(t)
	var rss int64
	if c.ProcessState != nil {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
	}
	return d, rss, err
}
