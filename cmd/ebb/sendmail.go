package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/sendmail"
)

// runSendmail is `ebb sendmail` and ebb invoked as sendmail: the sendmail(8)
// command line that cron, mailx, PHP and scripts use. The message goes to
// the daemon through the pickup directory and its socket
// (internal/pickup, docs/sendmail.md); the spool stays closed to the caller.
//
// Exit codes (sysexits): 0 once the message is durable, 64 for a command
// line ebb cannot accept, 65 for a message it cannot take, 75 when it
// could not be made durable (the diag sentence says why), 78 for a bad
// config.
func runSendmail(e *env) int {
	return sendmailMain(e, "sendmail")
}

func sendmailMain(e *env, name string) int {
	o, err := sendmail.Parse(name, e.args)
	if err != nil {
		fmt.Fprintf(e.stderr, "sendmail: %v\n", err)
		return diag.ExUsage
	}
	if err := sendmail.CheckConfigOption(o, sendmail.ProcessCredentials()); err != nil {
		fmt.Fprintf(e.stderr, "sendmail: %v\n", err)
		return diag.ExUsage
	}
	path := o.Config
	if path == "" {
		path = os.Getenv("EBB_CONFIG")
	}
	switch o.Mode {
	case sendmail.ModeIgnore:
		return 0
	case sendmail.ModeNewAliases:
		if o.Verbose {
			fmt.Fprintln(e.stderr, "sendmail: aliases live in ebb's directory (ebb alias ...); there is no alias file to rebuild")
		}
		return 0
	case sendmail.ModeMailq:
		// Through the daemon first: the spool is closed to ordinary users.
		if cfg, err := config.Load(path); err == nil {
			if err := pickup.Mailq(e.ctx, cfg.PickupDir(), cfg.Sendmail.Socket, e.stdout, 30*time.Second); err == nil {
				return 0
			}
		}
		args := []string{}
		if path != "" {
			args = append(args, "-c", path)
		}
		return runMailq(&env{ctx: e.ctx, args: args, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr})
	}
	cfg, err := loadConfig(e, path)
	if err != nil {
		return diag.ExConfig
	}
	drop := newDrop(cfg)
	switch o.Mode {
	case sendmail.ModeFlush:
		return sendmailFlush(e, cfg, o)
	case sendmail.ModeSMTP:
		return sendmailSMTP(e, cfg, drop)
	}
	msg, err := sendmail.Prepare(o, e.stdin, localCaller(cfg), time.Now())
	if err != nil {
		return sendmailError(e, err)
	}
	res, err := drop.Submit(e.ctx, envelopeOf(msg, o), func(w io.Writer) error {
		if _, err := msg.Header.WriteTo(w); err != nil {
			return err
		}
		_, err := io.Copy(w, msg.Body)
		return err
	})
	if err != nil {
		return sendmailError(e, err)
	}
	if o.Verbose {
		if res.QueueID != "" {
			fmt.Fprintf(e.stderr, "sendmail: queued as %s\n", res.QueueID)
		} else {
			fmt.Fprintf(e.stderr, "sendmail: left for the daemon in %s (%v)\n", res.File, res.Why)
		}
	}
	return 0
}

func newDrop(cfg *config.Config) *pickup.Drop {
	return &pickup.Drop{
		Dir:        cfg.PickupDir(),
		Socket:     cfg.Sendmail.Socket,
		DirSetting: cfg.PickupDirSetting(),
		Timeout:    cfg.Sendmail.Timeout.Duration,
	}
}

func envelopeOf(m *sendmail.Message, o *sendmail.Options) *pickup.Envelope {
	return &pickup.Envelope{From: m.Sender, Recipients: m.Recipients, BodyType: m.BodyType,
		Notify: o.Notify, Ret: o.Ret, EnvID: o.EnvID, Created: time.Now().UTC()}
}

// sendmailError prints the one sentence and maps the error to its exit code.
func sendmailError(e *env, err error) int {
	var ue *sendmail.UsageError
	var de *sendmail.DataError
	var ref *pickup.Refusal
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "sendmail: %v\n", ue)
		return diag.ExUsage
	case errors.As(err, &de):
		fmt.Fprintf(e.stderr, "sendmail: %v\n", de)
		return diag.ExDataErr
	case errors.As(err, &ref):
		fmt.Fprintf(e.stderr, "sendmail: %s\n", ref.Reply.Sentence)
		if ref.Reply.Exit != 0 {
			return ref.Reply.Exit
		}
		return diag.ExUnavailable
	}
	d := diag.From(err, "sendmail", "submit")
	if d.Component == "" || d.Component == "ebb" {
		d.Component = "sendmail"
	}
	fmt.Fprintln(e.stderr, d.Sentence())
	return d.ExitCode()
}

// localCaller is who runs sendmail: the login of the real uid, $NAME, and
// the domain that qualifies bare names.
func localCaller(cfg *config.Config) sendmail.Caller {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	domain := cfg.Sendmail.Domain
	if domain == "" {
		domain = host
	}
	login := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(login); err == nil {
		login = u.Username
	}
	return sendmail.Caller{Login: login, Name: os.Getenv("NAME"), Domain: domain, Hostname: host}
}

// sendmailFlush is -q: ask the running daemon to retry its queue now.
func sendmailFlush(e *env, cfg *config.Config, o *sendmail.Options) int {
	if o.FlushSite != "" {
		fmt.Fprintf(e.stderr, "sendmail: -qR%s: there is no per-site queue yet; flushing everything\n", o.FlushSite)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	rep, err := pickup.Command(ctx, cfg.PickupDir(), cfg.Sendmail.Socket, "FLUSH "+o.FlushID, 30*time.Second)
	if err != nil {
		d := diag.New("connect", "ask the daemon to flush the queue through", pickup.SocketPath(cfg.PickupDir(), cfg.Sendmail.Socket), err)
		d.Component, d.Class, d.Setting = "sendmail", diag.Temporary, cfg.PickupDirSetting()
		d.Reason = err.Error()
		d.Hint = "start ebb serve (it retries the queue by itself as soon as it runs)"
		fmt.Fprintln(e.stderr, d.Sentence())
		return d.ExitCode()
	}
	if !rep.OK {
		fmt.Fprintf(e.stderr, "sendmail: %s\n", rep.Sentence)
		if rep.Exit != 0 {
			return rep.Exit
		}
		return diag.ExTempFail
	}
	return 0
}
