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
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/mda"
)

// main installs no signal handler, unlike `ebb deliver`: os/signal's
// receiving loop costs this one-message process two more threads and
// about 0.5 ms of its start-up (issue 16, bench/deliver). A SIGTERM or
// SIGINT from the MTA (its time limit) kills the process with the default
// action, which Postfix's pipe and virtual, Exim and fetchmail all treat as
// a temporary failure, so the message is retried. A message is linked into
// new/ only once its data is synced, so a killed delivery leaves at most
// one file in tmp/, which Maildir readers ignore and Dovecot removes after
// 36 hours.
func main() {
	env := &cli.Env{Ctx: context.Background(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(cli.Dispatch(env, mda.Command(mda.Options{Handoff: handoff}), "ebb deliver", os.Args[1:]))
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
