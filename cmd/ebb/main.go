// Command ebb is the whole mail system in one binary. Invoked as "sendmail"
// or "mailq" it behaves as those programs; otherwise the first argument names
// the subcommand.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
)

// env is what a subcommand gets: its arguments and standard streams. Passing
// them (rather than using os.* directly) lets tests run commands in-process.
type env struct {
	ctx    context.Context
	args   []string // after the subcommand name
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	run     func(e *env) int
	summary string
}

// commands is the table of subcommands. Each lives in its own file.
var commands = map[string]command{
	"mailq":     {runMailq, "mailq [-c FILE] [--json]: the queue, each recipient with its state and reason (also as mailq)"},
	"queue":     {runQueue, "queue list|show|flush|hold|release|delete|requeue [ID...]: inspect and act on the queue"},
	"config":    {runConfig, "config defaults | config check [-c FILE]: print or validate the configuration"},
	"deliver":   {runDeliver, "deliver [-c FILE] (--maildir DIR | -d ADDRESS) [-f SENDER] [-A HDR] [-m FOLDER]: deliver stdin into a Maildir (MDA)"},
	"serve":     {runServe, "serve [-c FILE] | serve --demo: the daemon: inbound SMTP, the queue, local delivery, metrics"},
	"doctor":    {runDoctor, "doctor [-c FILE] [--json]: probe every path the config implies, as the user that will use it"},
	"domain":    {runDomain, "domain add|list|remove: the hosted domains and domain aliases"},
	"user":      {runUser, "user add|passwd|list|remove|quota|enable|disable|check: mailboxes (passwords from a prompt or stdin)"},
	"alias":     {runAlias, "alias add|list|remove: aliases and catch-alls (@domain)"},
	"import":    {runImport, "import dovecot-passwd FILE | csv FILE [--dry-run]: mailboxes from the old stack, in one transaction"},
	"sendmail":  {runSendmail, "sendmail [-t] [-i] [-f SENDER] [-F NAME] [-bs|-bp|-q] [RCPT...]: sendmail(8) for cron, mailx and scripts (also as sendmail)"},
	"explain":   {runExplain, "explain [-c FILE] [--since 2h] [--json] QUEUE-ID|<MESSAGE-ID>|ADDRESS: a message's whole story from the journal, after delivery too"},
	"sieve":     {runSieve, "sieve check SCRIPT... | sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR] [--trace]: compile, or dry-run and print the actions"},
	"directory": {runDirectory, "directory migrate | resolve ADDRESS: the directory's schema, and where an address leads"},
	"fetch":     {runFetch, "fetch add|list|remove|test|run|auth|passwd|reset: fetch remote IMAP and POP3 accounts into local mailboxes, exactly once"},
	"scan":      {runScan, "scan [-c FILE] [--from ADDR] [--to ADDR] [--auth LOGIN] [--json] MESSAGE: the configured scanners' verdicts, scores and symbols, and the SMTP answer the policy would give"},
	"dkim":      {runDkim, "dkim keygen DOMAIN [--selector S] [--algorithm ed25519|rsa] [--pending] | dkim list [--json]: DKIM keys, the TXT record to publish, and whether DNS matches"},
	"dovecot":   {runDovecot, "dovecot config [--sql-conf PATH] | dovecot sql: the Dovecot 2.3 configuration that serves ebb's users over IMAP and ManageSieve"},
	"route":     {runRoute, "route [-c FILE] [--from ADDR] --to ADDR... [--client-ip IP] [--helo NAME] [--auth USER] [--port 25|587] [--json] [MESSAGE]: what would happen to a message (replies, checks, Sieve, Maildir folder, MX hosts), without queueing or delivering it"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	switch filepath.Base(argv[0]) {
	case "sendmail":
		if c, ok := commands["sendmail"]; ok {
			e.args = argv[1:]
			return c.run(e)
		}
	case "mailq":
		if c, ok := commands["mailq"]; ok {
			e.args = argv[1:]
			return c.run(e)
		}
	}
	if len(argv) < 2 || argv[1] == "-h" || argv[1] == "--help" || argv[1] == "help" {
		usage(stderr)
		if len(argv) < 2 {
			return 64
		}
		return 0
	}
	c, ok := commands[argv[1]]
	if !ok {
		fmt.Fprintf(stderr, "ebb: unknown command %q\n", argv[1])
		usage(stderr)
		return 64
	}
	e.args = argv[2:]
	return c.run(e)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ebb COMMAND [options]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}
