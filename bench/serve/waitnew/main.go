// Command waitnew waits until a directory holds at least N entries (a
// Maildir's new/ filling during bench/serve) and prints how many it found
// and when, as Unix seconds with nanoseconds. It reads the directory in
// one process every 10 ms, where a shell loop started find and wc 100
// times a second on the machine being measured.
//
//	waitnew -dir DIR -n 5000 [-timeout 600s]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory to watch")
	n := flag.Int("n", 1, "entries to wait for")
	timeout := flag.Duration("timeout", 600*time.Second, "give up after this long (exit 1)")
	flag.Parse()
	deadline := time.Now().Add(*timeout)
	for {
		got := count(*dir)
		now := time.Now()
		if got >= *n {
			fmt.Printf("%d %d.%09d\n", got, now.Unix(), now.Nanosecond())
			return
		}
		if now.After(deadline) {
			fmt.Printf("%d %d.%09d\n", got, now.Unix(), now.Nanosecond())
			fmt.Fprintf(os.Stderr, "waitnew: only %d of %d entries in %s after %v\n", got, *n, *dir, *timeout)
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count is the number of entries in dir; 0 while it does not exist yet
// (the Maildir is made on the first delivery).
func count(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	c := 0
	for {
		names, err := f.Readdirnames(4096)
		c += len(names)
		if err != nil || len(names) == 0 {
			return c
		}
	}
}
