package main

import (
	"context"
	"io"

	"github.com/ebbmail/ebb/internal/cli"
)

// env is what sendmail_smtp.go still uses from before internal/cli; it goes
// when that file moves onto cli.Call (its logic into internal/smtpd, by its
// owner).
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	call   *cli.Call
}
