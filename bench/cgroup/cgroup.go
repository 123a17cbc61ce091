// Package cgroup puts a system under test in a control group of its own,
// so that the benchmarks in bench/ report what that system cost — its CPU
// time and its memory — apart from the load generator, the kernel's work
// for other processes and everything else on a shared machine.
//
// It works with either cgroup version: v2 (one unified hierarchy, the
// default on Debian 12) and v1 (a hierarchy per controller; it uses
// cpuacct and memory). A v1 group is made under the caller's own group in
// each hierarchy, so a benchmark run inside a container or a service's
// group stays inside it; a v2 group under /sys/fs/cgroup/ebb-bench, since
// a v2 group that holds processes may not have children with controllers.
//
// What it reads:
//
//   - CPU: the group's total, user and system time (v1 cpuacct.usage,
//     cpuacct.usage_user, cpuacct.usage_sys; v2 cpu.stat), nanoseconds.
//   - Memory: the group's charge without the page cache (v1
//     memory.usage_in_bytes minus memory.stat's total_cache; v2
//     memory.current minus memory.stat's file): anonymous memory (heaps,
//     stacks) and the kernel's memory for the group (page tables, sockets,
//     kernel stacks, slab). Pages of files — the programs' text and
//     libraries, the spool and Maildir files written — are left out: which
//     group a file page is charged to depends on who touched it first, and
//     the files a mail system writes would otherwise dominate. The kernel
//     keeps no high-water mark of this figure, so Sampler samples it.
//   - The kernel's own high-water mark (v1 memory.max_usage_in_bytes, v2
//     memory.peak), which includes the page cache.
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Root is where the cgroup filesystems are mounted.
var Root = "/sys/fs/cgroup"

// prefix starts the name of every group this package makes.
const prefix = "ebb-bench."

// Group is one control group (in v1, one directory per controller).
type Group struct {
	Name string
	V2   bool
	// CPUDir and MemDir are the group's directories: the same one in v2,
	// the cpuacct and the memory hierarchy's in v1.
	CPUDir, MemDir string
}

// Version says which cgroup version the machine has: 2 when the unified
// hierarchy at Root has the memory controller, 1 when v1's cpuacct and
// memory hierarchies are mounted, else an error.
func Version() (int, error) {
	if b, err := os.ReadFile(filepath.Join(Root, "cgroup.controllers")); err == nil {
		if hasWord(string(b), "memory") {
			return 2, nil
		}
		return 0, fmt.Errorf("cgroup v2 at %s has no memory controller (cgroup.controllers: %q)", Root, strings.TrimSpace(string(b)))
	}
	for _, c := range []string{"cpuacct", "memory"} {
		if _, err := os.Stat(filepath.Join(Root, c, "tasks")); err != nil {
			return 0, fmt.Errorf("neither cgroup v2 (%s/cgroup.controllers) nor v1's %s hierarchy (%s/%s): %v", Root, c, Root, c, err)
		}
	}
	return 1, nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// Lookup returns the group NAME (whether it exists or not).
func Lookup(name string) (*Group, error) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("cgroup: bad name %q (no / or .)", name)
	}
	v, err := Version()
	if err != nil {
		return nil, err
	}
	g := &Group{Name: name, V2: v == 2}
	if g.V2 {
		g.CPUDir = filepath.Join(Root, "ebb-bench", name)
		g.MemDir = g.CPUDir
		return g, nil
	}
	cpu, err := ownPath("cpuacct")
	if err != nil {
		return nil, err
	}
	mem, err := ownPath("memory")
	if err != nil {
		return nil, err
	}
	g.CPUDir = filepath.Join(Root, "cpuacct", cpu, prefix+name)
	g.MemDir = filepath.Join(Root, "memory", mem, prefix+name)
	return g, nil
}

// ownPath is the calling process's group in v1's hierarchy of controller,
// without a group of ours at its end (a process of the system under test
// that asks is in one).
func ownPath(controller string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				p := parts[2]
				if i := strings.Index(p, "/"+prefix); i >= 0 {
					p = p[:i]
				}
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("cgroup: /proc/self/cgroup names no %s hierarchy", controller)
}

// Create makes the group NAME afresh: one left by an earlier run of the
// same name is removed first.
func Create(name string) (*Group, error) {
	g, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if err := g.Remove(); err != nil {
		return nil, err
	}
	if g.V2 {
		parent := filepath.Dir(g.CPUDir)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		// The controllers reach a group only through its parents'
		// subtree_control. cpu.stat's times exist without the cpu
		// controller; memory.current and memory.peak need memory.
		for _, dir := range []string{Root, parent} {
			if err := enable(dir, "memory"); err != nil {
				return nil, err
			}
		}
		if err := os.Mkdir(g.CPUDir, 0o755); err != nil {
			return nil, err
		}
		return g, nil
	}
	for _, d := range []string{g.CPUDir, g.MemDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func enable(dir, controller string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if hasWord(string(b), controller) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+controller), 0); err != nil {
		return fmt.Errorf("enable %s in %s: %w", controller, dir, err)
	}
	return nil
}

// AddProcess moves the process pid (all its threads) into the group; its
// children are born there.
func (g *Group) AddProcess(pid int) error {
	for _, d := range g.dirs() {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("move %d into %s: %w", pid, d, err)
		}
	}
	return nil
}

// AddThread moves one thread into the group (v1 only: v2 keeps a
// process's threads together). A process forked by that thread is born in
// the group; the thread's own work since the move is counted too.
func (g *Group) AddThread(tid int) error {
	if g.V2 {
		return errors.New("cgroup: v2 moves processes, not threads (use CgroupFD with clone3)")
	}
	for _, d := range g.dirs() {
		if err := os.WriteFile(filepath.Join(d, "tasks"), []byte(strconv.Itoa(tid)), 0); err != nil {
			return fmt.Errorf("move thread %d into %s: %w", tid, d, err)
		}
	}
	return nil
}

// LeaveThread moves the thread tid back to the group this package made g
// under (v1).
func (g *Group) LeaveThread(tid int) error {
	for _, d := range g.dirs() {
		if err := os.WriteFile(filepath.Join(filepath.Dir(d), "tasks"), []byte(strconv.Itoa(tid)), 0); err != nil {
			return err
		}
	}
	return nil
}

func (g *Group) dirs() []string {
	if g.V2 {
		return []string{g.CPUDir}
	}
	return []string{g.CPUDir, g.MemDir}
}

// Procs lists the processes in the group.
func (g *Group) Procs() ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, d := range g.dirs() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && !seen[p] {
				seen[p] = true
				pids = append(pids, p)
			}
		}
	}
	return pids, nil
}

// Remove deletes the group. Processes still in it are moved out first (to
// the parent in v1, to the root group in v2), so that a benchmark's
// leftovers never keep it.
func (g *Group) Remove() error {
	for _, d := range g.dirs() {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			continue
		}
		out := filepath.Dir(d)
		if g.V2 {
			out = Root
		}
		var err error
		for range 50 {
			if b, rerr := os.ReadFile(filepath.Join(d, "cgroup.procs")); rerr == nil {
				for _, p := range strings.Fields(string(b)) {
					os.WriteFile(filepath.Join(out, "cgroup.procs"), []byte(p), 0)
				}
			}
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	return nil
}

// CPU is a group's CPU time so far.
type CPU struct{ Total, User, System time.Duration }

// Sub is the CPU time between an earlier reading and c.
func (c CPU) Sub(o CPU) CPU {
	return CPU{c.Total - o.Total, c.User - o.User, c.System - o.System}
}

// CPU reads the group's CPU time.
func (g *Group) CPU() (CPU, error) {
	if g.V2 {
		kv, err := readKV(filepath.Join(g.CPUDir, "cpu.stat"))
		if err != nil {
			return CPU{}, err
		}
		us := func(k string) time.Duration { return time.Duration(kv[k]) * time.Microsecond }
		return CPU{us("usage_usec"), us("user_usec"), us("system_usec")}, nil
	}
	var c CPU
	for _, f := range []struct {
		name string
		to   *time.Duration
	}{{"cpuacct.usage", &c.Total}, {"cpuacct.usage_user", &c.User}, {"cpuacct.usage_sys", &c.System}} {
		n, err := readInt(filepath.Join(g.CPUDir, f.name))
		if err != nil {
			return CPU{}, err
		}
		*f.to = time.Duration(n)
	}
	return c, nil
}

// Memory reads the group's memory charge without the page cache (see the
// package comment), and with it, in bytes.
func (g *Group) Memory() (noCache, all uint64, err error) {
	var usage int64
	var cacheKey, usageFile string
	if g.V2 {
		usageFile, cacheKey = "memory.current", "file"
	} else {
		usageFile, cacheKey = "memory.usage_in_bytes", "total_cache"
	}
	if usage, err = readInt(filepath.Join(g.MemDir, usageFile)); err != nil {
		return 0, 0, err
	}
	kv, err := readKV(filepath.Join(g.MemDir, "memory.stat"))
	if err != nil {
		return 0, 0, err
	}
	nc := usage - kv[cacheKey]
	if nc < 0 {
		nc = 0
	}
	return uint64(nc), uint64(usage), nil
}

// KernelPeak is the kernel's high-water mark of the group's memory, page
// cache included (v1 memory.max_usage_in_bytes, v2 memory.peak: Linux 5.19
// or later; 0 without it).
func (g *Group) KernelPeak() uint64 {
	f := "memory.max_usage_in_bytes"
	if g.V2 {
		f = "memory.peak"
	}
	n, err := readInt(filepath.Join(g.MemDir, f))
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

func readKV(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			kv[k] = n
		}
	}
	return kv, sc.Err()
}

// Sampler keeps the peak of a group's memory without the page cache,
// sampled every interval until Stop.
type Sampler struct {
	g    *Group
	stop chan struct{}
	done chan struct{}
	peak uint64
	err  error
}

// Sample starts sampling g.
func (g *Group) Sample(interval time.Duration) *Sampler {
	s := &Sampler{g: g, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if nc, _, err := g.Memory(); err == nil {
				s.peak = max(s.peak, nc)
			} else if s.err == nil {
				s.err = err
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak in bytes (after one last
// sample).
func (s *Sampler) Stop() (uint64, error) {
	close(s.stop)
	<-s.done
	if nc, _, err := s.g.Memory(); err == nil {
		s.peak = max(s.peak, nc)
	}
	return s.peak, s.err
}
