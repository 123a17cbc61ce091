// Command ebb is the whole mail system in one binary. Invoked as "sendmail"
// or "mailq" it behaves as those programs; otherwise the first argument names
// the command. This package holds the command table and each command's
// flags; the work is done by the package that owns the data (internal/cli
// is what the commands share: help, flags, config, the error printer).
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/cli"
)

// root is the command table; each command lives in its own file.
var root = &cli.Command{Name: "ebb", Summary: "the mail system", Sub: []*cli.Command{
	aliasCmd, configCmd, deliverCmd, dkimCmd, directoryCmd, dmarcCmd, dnsCmd, doctorCmd, domainCmd, dovecotCmd,
	explainCmd, fetchCmd, importCmd, mailqCmd, queueCmd, reportCmd, routeCmd, scanCmd, sendmailCmd, serveCmd,
	sieveCmd, tlsrptCmd, userCmd, versionCmd,
}}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cli.Env{Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	args := argv[1:]
	switch filepath.Base(argv[0]) {
	case "sendmail":
		return cli.Dispatch(env, sendmailCmd, "sendmail", args)
	case "mailq":
		return cli.Dispatch(env, mailqCmd, "ebb mailq", args)
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-V") {
		args[0] = "version"
	}
	return cli.Dispatch(env, root, "ebb", args)
}
