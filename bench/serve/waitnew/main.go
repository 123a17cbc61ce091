// Command waitnew waits until a directory holds at least N entries (a
// Maildir's new/ filling during bench/serve) and prints how many it found
// and when, as Unix seconds with nanoseconds.
//
// It lists the directory once and then follows inotify's create and
// move-in events, so it costs nothing while it waits: new/ keeps every
// earlier run's files (tens of thousands), and listing it every 10 ms
// would load the machine during the tail of a run, the part where the
// system under test (Postfix's qmgr and virtual, more than ebb) is still
// delivering. Names are kept in a set, so an entry seen both in the
// listing and as an event counts once.
//
//	waitnew -dir DIR -n 5000 [-timeout 600s]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	dir := flag.String("dir", "", "directory to watch")
	n := flag.Int("n", 1, "entries to wait for")
	timeout := flag.Duration("timeout", 600*time.Second, "give up after this long (exit 1)")
	flag.Parse()
	deadline := time.Now().Add(*timeout)
	seen := map[string]bool{}
	done := func() {
		now := time.Now()
		fmt.Printf("%d %d.%09d\n", len(seen), now.Unix(), now.Nanosecond())
	}
	fail := func() {
		done()
		fmt.Fprintf(os.Stderr, "waitnew: only %d of %d entries in %s after %v\n", len(seen), *n, *dir, *timeout)
		os.Exit(1)
	}
	// The Maildir is made on the first delivery: wait for the directory.
	for {
		if st, err := os.Stat(*dir); err == nil && st.IsDir() {
			break
		}
		if *n <= 0 {
			done()
			return
		}
		if time.Now().After(deadline) {
			fail()
		}
		time.Sleep(10 * time.Millisecond)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitnew: inotify:", err)
		os.Exit(2)
	}
	// Watch first, then list: nothing created in between is missed.
	if _, err := unix.InotifyAddWatch(fd, *dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		fmt.Fprintln(os.Stderr, "waitnew: watch", *dir+":", err)
		os.Exit(2)
	}
	list(*dir, seen)
	buf := make([]byte, 64<<10)
	for len(seen) < *n {
		left := time.Until(deadline)
		if left <= 0 {
			fail()
		}
		// Wait for events with the deadline as the limit (at most a second
		// at a time, to recheck it).
		ms := int(min(left, time.Second).Milliseconds()) + 1
		ready, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if err == unix.EINTR || ready == 0 {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "waitnew: poll:", err)
			os.Exit(2)
		}
		k, err := unix.Read(fd, buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "waitnew: read inotify:", err)
			os.Exit(2)
		}
		if !events(buf[:k], seen) {
			// The kernel's event queue overflowed: list again.
			list(*dir, seen)
		}
	}
	done()
}

// list adds every name in dir to seen.
func list(dir string, seen map[string]bool) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(4096)
		for _, nm := range names {
			seen[nm] = true
		}
		if err != nil || len(names) == 0 {
			return
		}
	}
}

// events adds the names in a buffer of inotify events to seen; false when
// the queue overflowed and events were lost.
func events(b []byte, seen map[string]bool) bool {
	ok := true
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			ok = false
		}
		if ev.Len > 0 {
			name := b[unix.SizeofInotifyEvent:end]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			seen[string(name)] = true
		}
		b = b[end:]
	}
	return ok
}
