// Command diskrate measures the disk's own durable-create rate, the
// physical limit of any mail system that acknowledges a message only once
// it is on disk: each writer loops over write a file, fsync it, rename it
// into place, fsync the directory (what safeio.WriteFile does), for a
// fixed time. It prints one line per writer count: "writers creates/s
// median_ms", so that bench/serve/run.sh can print ebb's share of it.
//
// Usage: diskrate -dir DIR [-size 1024] [-writers 1,32] [-time 5s]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory to create files in (on the filesystem under test)")
	size := flag.Int("size", 1024, "bytes per file")
	writers := flag.String("writers", "1,32", "comma-separated writer counts")
	dur := flag.Duration("time", 5*time.Second, "how long each writer count runs")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "diskrate: -dir is required")
		os.Exit(64)
	}
	for _, w := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "diskrate: bad writer count %q\n", w)
			os.Exit(64)
		}
		rate, med, err := run(*dir, n, *size, *dur)
		if err != nil {
			fmt.Fprintln(os.Stderr, "diskrate:", err)
			os.Exit(1)
		}
		fmt.Printf("%d %.1f %.2f\n", n, rate, med)
	}
}

// run has n writers create files durably for d; it returns creates per
// second and the median time of one create in milliseconds.
func run(dir string, n, size int, d time.Duration) (float64, float64, error) {
	sub, err := os.MkdirTemp(dir, "diskrate")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(sub)
	data := make([]byte, size)
	for i := range data {
		data[i] = 'x'
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		first error
	)
	start := time.Now()
	end := start.Add(d)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(end); i++ {
				t := time.Now()
				if err := create(sub, fmt.Sprintf("%d.%d", w, i), data); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	if first != nil {
		return 0, 0, first
	}
	if len(lat) == 0 {
		return 0, 0, fmt.Errorf("no file was created in %s", d)
	}
	slices.Sort(lat)
	return float64(len(lat)) / el.Seconds(), float64(lat[len(lat)/2].Microseconds()) / 1000, nil
}

// create is one durable create: write, fsync, rename, directory fsync.
func create(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
