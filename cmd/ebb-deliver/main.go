// Command ebb-deliver is `ebb deliver` as a binary of its own, for MTAs
// that start one delivery agent per message (Postfix's pipe or virtual
// transport, Exim's pipe, fetchmail's mda), as Dovecot ships dovecot-lda
// beside its daemons. It links only the delivery path: no Prometheus, no
// SMTP server or client, no TLS, no DNS, no message authentication and no
// PostgreSQL driver, so it starts several times faster than the whole ebb
// binary (bench/deliver). Same flags, same exit codes, same output as
// `ebb deliver` (docs/deliver.md). A configuration whose directory is in
// PostgreSQL is handed to the full binary: ebb-deliver execs `ebb deliver`
// with the same arguments, before it reads the message.
package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/mda"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := mda.RunWith(ctx, os.Args[1:], os.Stdin, os.Stderr, mda.Options{Handoff: handoff})
	stop()
	os.Exit(code)
}

// handoff replaces this process with `ebb deliver ARGS`: the ebb next to
// this binary (/usr/bin/ebb beside /usr/bin/ebb-deliver), else the one on
// PATH. It returns only on failure.
func handoff(args []string) error {
	full := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "ebb"); isExecutable(p) {
			full = p
		}
	}
	if full == "" {
		p, err := exec.LookPath("ebb")
		if err != nil {
			return errors.New("no ebb binary next to ebb-deliver nor on PATH")
		}
		full = p
	}
	return syscall.Exec(full, append([]string{"ebb", "deliver"}, args...), os.Environ())
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
