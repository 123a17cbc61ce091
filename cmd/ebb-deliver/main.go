// Command ebb-deliver is `ebb deliver` as a binary of its own, for MTAs
// that start one delivery agent per message (Postfix's pipe or virtual
// transport, Exim's pipe, fetchmail's mda): it links only the delivery
// path, so it starts several times faster than the whole ebb binary, whose
// daemon parts (Prometheus and its protobuf tables, the SMTP server and
// client, TLS) a one-message process never uses. Same flags, same exit
// codes, same output as `ebb deliver` (docs/deliver.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ebbmail/ebb/internal/mda"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := mda.Run(ctx, os.Args[1:], os.Stdin, os.Stderr)
	stop()
	os.Exit(code)
}
