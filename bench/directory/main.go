// Command directory benchmarks address resolution (the RCPT TO check) on
// SQLite and PostgreSQL side by side: 100k lookups, a mix of mailbox hits
// (some with a subaddress), aliases and unknown addresses, with 1 and 32
// concurrent lookers, with the in-process cache off and on. It prints
// lookups/s and p50/p99 latency, and each row's ratio to SQLite.
//
//	go run ./bench/directory -pg 'postgres://…'   (run.sh starts a PostgreSQL)
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	_ "github.com/ebbmail/ebb/internal/directory/postgres" // PostgreSQL directories
)

func main() {
	n := flag.Int("n", 100000, "lookups per run")
	pg := flag.String("pg", "", "PostgreSQL DSN (empty: SQLite only)")
	domains := flag.Int("domains", 20, "hosted domains")
	perDomain := flag.Int("mailboxes", 500, "mailboxes per domain")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "ebb-bench-dir-")
	check(err)
	defer os.RemoveAll(tmp)

	engines := []struct{ name, dsn string }{{"sqlite", "sqlite:" + filepath.Join(tmp, "directory.db")}}
	if *pg != "" {
		engines = append(engines, struct{ name, dsn string }{"postgres", *pg})
	}
	addrs := workload(*n, *domains, *perDomain)

	type row struct {
		engine, cache string
		lookers       int
		rate, perCPU  float64
		p50, p99      time.Duration
	}
	var rows []row
	for _, eng := range engines {
		d := open(eng.dsn, 0)
		seed(d, *domains, *perDomain)
		d.Close()
		for _, ttl := range []time.Duration{0, 5 * time.Second} {
			for _, lookers := range []int{1, 32} {
				d := open(eng.dsn, ttl)
				cpu0 := cpuTime()
				rate, p50, p99 := run(d, addrs, lookers)
				perCPU := float64(len(addrs)) / (cpuTime() - cpu0).Seconds()
				d.Close()
				cache := "off"
				if ttl > 0 {
					cache = "5s"
				}
				rows = append(rows, row{eng.name, cache, lookers, rate, perCPU, p50, p99})
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "engine\tcache\tlookers\tlookups/s\tper CPU-s\tp50\tp99\tvs sqlite\t\n")
	for _, r := range rows {
		base := r.rate
		for _, s := range rows {
			if s.engine == "sqlite" && s.cache == r.cache && s.lookers == r.lookers {
				base = s.rate
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%s\t%s\t%.2fx\t\n", r.engine, r.cache, r.lookers, r.rate, r.perCPU, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rate/base)
	}
	tw.Flush()
	distinct := map[string]bool{}
	for _, a := range addrs {
		distinct[a] = true
	}
	fmt.Printf("\n%d lookups per run (%d distinct addresses, so at most %.0f%% cache hits): 60%% mailbox hits (1 in 6 with +detail), 20%% aliases (to 2 mailboxes, 1 in 4 through a second alias), 20%% unknown (half in a hosted domain, half not); %d domains x %d mailboxes.\n", *n, len(distinct), 100-100*float64(len(distinct))/float64(*n), *domains, *perDomain)
	fmt.Println("per CPU-s: lookups per second of this process's CPU time (user+sys; for PostgreSQL the server's CPU is not counted): what the lookups cost, whatever else the machine is doing.")
	fmt.Println("Cache 5s: directory.cache_ttl (default 5s): hits and unknowns are remembered per process for 5s; the workload repeats addresses, as RCPT traffic does.")
}

func open(dsn string, ttl time.Duration) *directory.Directory {
	c := config.Defaults()
	c.Directory.DSN = dsn
	c.Directory.CacheTTL = config.D(ttl)
	d, err := directory.Open(context.Background(), c)
	check(err)
	return d
}

func seed(d *directory.Directory, domains, per int) {
	ctx := context.Background()
	plan := &directory.ImportPlan{}
	for i := 0; i < domains; i++ {
		for j := 0; j < per; j++ {
			plan.Entries = append(plan.Entries, directory.ImportEntry{Mailbox: directory.Mailbox{
				Address: fmt.Sprintf("user%d@domain%d.example", j, i), Enabled: true}})
		}
	}
	_, err := d.Import(ctx, plan, false)
	check(err)
	for i := 0; i < domains; i++ {
		for j := 0; j < per/5; j++ {
			dst := []string{fmt.Sprintf("user%d@domain%d.example", j, i), fmt.Sprintf("user%d@domain%d.example", j+1, i)}
			if j%4 == 0 {
				dst = []string{fmt.Sprintf("alias%d@domain%d.example", j+1, i)}
			}
			check(d.AddAlias(ctx, fmt.Sprintf("alias%d@domain%d.example", j, i), dst...))
		}
	}
}

func workload(n, domains, per int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		dom := r.IntN(domains)
		switch k := r.IntN(10); {
		case k < 6:
			u := r.IntN(per)
			if r.IntN(6) == 0 {
				out[i] = fmt.Sprintf("user%d+tag%d@domain%d.example", u, r.IntN(100), dom)
			} else {
				out[i] = fmt.Sprintf("user%d@domain%d.example", u, dom)
			}
		case k < 8:
			out[i] = fmt.Sprintf("alias%d@domain%d.example", r.IntN(per/5), dom)
		case k < 9:
			out[i] = fmt.Sprintf("nobody%d@domain%d.example", r.IntN(1000), dom)
		default:
			out[i] = fmt.Sprintf("someone%d@elsewhere%d.example", r.IntN(1000), dom)
		}
	}
	return out
}

// run resolves every address once, spread over lookers goroutines.
func run(d *directory.Directory, addrs []string, lookers int) (rate float64, p50, p99 time.Duration) {
	ctx := context.Background()
	lat := make([]time.Duration, len(addrs))
	var wg sync.WaitGroup
	next := make(chan int, 1024)
	start := time.Now()
	for w := 0; w < lookers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if _, err := d.Resolve(ctx, addrs[i]); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	for i := range addrs {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	return float64(len(addrs)) / el.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
