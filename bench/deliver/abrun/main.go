// Command abrun runs two or more delivery agents in turn, one run of each
// after the other, N times, and prints each one's mean and median CPU time
// per run (user + system from wait4's rusage: the agent's own, start-up
// included) and wall time. Taking turns run by run, not round by round,
// lets a shared machine's changing load fall on every agent alike, so a
// small difference (a change to ebb-deliver, before and after) shows in a
// few hundred runs at any load. bench/deliver/results/README.md quotes it.
//
//	abrun -n 500 -uid 991 -gid 990 -in msg.eml -- A ARGS... ';;' B ARGS...
//
// The order turns by one agent every round (A B F, then B F A, then F A
// B): a run right after another binary costs more than one after itself
// (its code and data are not in the CPU's caches; 0.45 ms of ebb-deliver's
// 3 ms on this VM, issue 28), so a fixed order favours whichever agent
// follows itself or a small one. With -k K each agent runs K times in a
// row per round; the "warm" columns are the runs after the first of each
// K, the regime of bench/deliver/run.sh (one agent's messages back to
// back). Every run's stdin is the file -in; a run that does not exit 0
// stops it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 200, "runs of each agent")
	in := flag.String("in", "/dev/null", "the file every run reads as stdin")
	uid := flag.Int("uid", -1, "run as this uid (with -gid; no supplementary groups)")
	gid := flag.Int("gid", -1, "run as this gid")
	k := flag.Int("k", 1, "runs of each agent in a row per round (the runs after the first are the warm ones)")
	flag.Parse()
	if *k < 1 {
		*k = 1
	}
	var cmds [][]string
	var cur []string
	for _, a := range flag.Args() {
		if a == ";;" {
			if len(cur) > 0 {
				cmds = append(cmds, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, a)
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: abrun [-n N] [-k K] [-uid U -gid G] [-in FILE] -- A ARGS... ';;' B ARGS...")
		os.Exit(64)
	}
	cpu := make([][]float64, len(cmds))
	wall := make([][]float64, len(cmds))
	warmCPU := make([][]float64, len(cmds))
	warmWall := make([][]float64, len(cmds))
	for i := 0; i*(*k) < *n; i++ {
		for o := range cmds {
			j := (i + o) % len(cmds)
			for r := 0; r < *k && i*(*k)+r < *n; r++ {
				c, w := runOnce(cmds[j], *in, *uid, *gid)
				cpu[j] = append(cpu[j], c)
				wall[j] = append(wall[j], w)
				if r > 0 {
					warmCPU[j] = append(warmCPU[j], c)
					warmWall[j] = append(warmWall[j], w)
				}
			}
		}
	}
	fmt.Printf("%-50s %10s %10s %10s %10s", "agent", "CPU mean", "CPU med", "wall mean", "wall med")
	if *k > 1 {
		fmt.Printf(" %10s %10s", "warm CPU", "warm wall")
	}
	fmt.Println()
	for j, c := range cmds {
		name := strings.Join(c, " ")
		if len(name) > 50 {
			name = name[:47] + "..."
		}
		fmt.Printf("%-50s %10.3f %10.3f %10.3f %10.3f", name, mean(cpu[j]), median(cpu[j]), mean(wall[j]), median(wall[j]))
		if *k > 1 {
			fmt.Printf(" %10.3f %10.3f", median(warmCPU[j]), median(warmWall[j]))
		}
		fmt.Println()
	}
}

// runOnce runs c once with stdin from the file in, as uid/gid when given,
// and returns its CPU time (user + system, from rusage) and wall time in
// ms. A run that fails stops abrun.
func runOnce(c []string, in string, uid, gid int) (cpuMS, wallMS float64) {
	f, err := os.Open(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abrun:", err)
		os.Exit(1)
	}
	defer f.Close()
	cmd := exec.Command(c[0], c[1:]...)
	cmd.Stdin = f
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "abrun: %s: %v\n%s", strings.Join(c, " "), err, out)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6, float64(took.Nanoseconds()) / 1e6
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
