package daemon

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/safeio"
)

// demoConfig is the config `ebb serve --demo` writes; {DIR} and {USER} are
// filled in.
//
//go:embed demo.toml
var demoConfig string

const (
	demoDomain  = "example.test"
	demoMailbox = "demo@example.test"
)

// writeDemoConfig makes dir (absolute from the current directory) and
// writes dir/ebb.toml unless it exists. It returns the config's path.
func writeDemoConfig(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(abs, "ebb.toml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	name := "nobody"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	text := strings.NewReplacer("{DIR}", abs, "{USER}", name).Replace(demoConfig)
	if err := safeio.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// demoDirectory makes sure the demo domain and mailbox exist.
func demoDirectory(ctx context.Context, dir *directory.Directory) error {
	if err := dir.AddDomain(ctx, demoDomain); err != nil && !errors.Is(err, directory.ErrExists) {
		return fmt.Errorf("add the demo domain %s: %w", demoDomain, err)
	}
	err := dir.AddMailbox(ctx, directory.Mailbox{Address: demoMailbox, Enabled: true})
	if err != nil && !errors.Is(err, directory.ErrExists) {
		return fmt.Errorf("add the demo mailbox %s: %w", demoMailbox, err)
	}
	return nil
}

// demoBanner tells a newcomer where the mail goes and how to read it.
func (d *daemon) demoBanner(addrs []net.Addr) {
	smtpAddr := "127.0.0.1:2525"
	if len(addrs) > 0 {
		smtpAddr = addrs[0].String()
	}
	md := strings.NewReplacer("{root}", d.cfg.Mail.Root, "{domain}", demoDomain, "{local}", "demo",
		"{address}", demoMailbox).Replace(d.cfg.Mail.Maildir)
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	// Under `go run` there is no ebb binary to name: say how it was run.
	self := "ebb"
	if strings.Contains(os.Args[0], "go-build") {
		self = "go run ./cmd/ebb"
	}
	w := d.stdout
	fmt.Fprintf(w, `
ebb demo is running (Ctrl-C stops it; the data stays in %s).

  SMTP      %s   domain %s, mailbox %s
  config    %s
  metrics   http://%s/metrics
  queue     http://%s/   (the queue tide: depth over time, why mail waits, each message's story)

Send a message:
  swaks --server %s --to %s

It lands at once in the Maildir:
  %s/new/

Read it:
  ls %s/new/ && cat %s/new/*
  mutt -f %s          (or Dovecot: mail_location = maildir:%s)

The queue and what is waiting, with the reason for each deferral:
  %s mailq -c %s

`, rel(filepath.Dir(d.cfg.File)), smtpAddr, demoDomain, demoMailbox, rel(d.cfg.File), addrOf(d.metrLn), addrOf(d.metrLn),
		smtpAddr, demoMailbox, rel(md), rel(md), rel(md), rel(md), md, self, rel(d.cfg.File))
}
