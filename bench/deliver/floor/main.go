// Command floor is the least any delivery agent with ebb's durability must
// do for one message, as a Go program: create a file in tmp/, copy stdin
// into it, fsync it, link it into new/, fsync new/, unlink the tmp/ name.
// No config, no directory, no headers, no Sieve. bench/deliver/run.sh runs
// it beside ebb and maildrop, so the table shows how much of ebb's time
// per process is the disk and the Go runtime (this floor) and how much is
// ebb's own.
//
// With -file-only it skips the fsync of new/: maildrop's durability (a
// crash can lose a message it acknowledged), to show what the second
// flush costs.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	args := os.Args[1:]
	dirSync := true
	if len(args) == 2 && args[0] == "-file-only" {
		dirSync, args = false, args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: floor [-file-only] MAILDIR < message")
		os.Exit(64)
	}
	md := args[0]
	name := strconv.FormatInt(time.Now().UnixNano(), 10) + ".P" + strconv.Itoa(os.Getpid()) + ".floor"
	tmp := filepath.Join(md, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = io.Copy(f, os.Stdin)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Link(tmp, filepath.Join(md, "new", name))
	}
	if err == nil && dirSync {
		var d *os.File
		if d, err = os.Open(filepath.Join(md, "new")); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	os.Remove(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(75)
	}
}
