package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

const queueUsage = `usage: ebb queue list [-c FILE] [--json]        the queue with reasons (as mailq)
       ebb queue show [-c FILE] ID...              envelope, headers and attempts
       ebb queue flush [-c FILE] [ID...]           retry now (all messages without ID)
       ebb queue flush [-c FILE] --domain D        retry what waits for D now, a suspended destination too
       ebb queue hold|release [-c FILE] ID...      stop / resume delivery attempts
       ebb queue delete [-c FILE] ID...            remove without a bounce
       ebb queue requeue [-c FILE] ID...           undelivered recipients start over`

// runQueue is `ebb queue ...`. Changes go to the running daemon through
// its control socket, or straight into the spool files when none runs.
func runQueue(e *env) int {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, queueUsage)
		return diag.ExUsage
	}
	sub, rest := e.args[0], e.args[1:]
	if sub == "list" {
		e2 := *e
		e2.args = rest
		return runMailq(&e2)
	}
	a, ok := parseQueueArgs(e, rest)
	if !ok {
		fmt.Fprintln(e.stderr, queueUsage)
		return diag.ExUsage
	}
	switch sub {
	case "show":
		if len(a.ids) == 0 {
			fmt.Fprintln(e.stderr, "ebb queue show: give one or more queue ids (see ebb mailq)")
			return diag.ExUsage
		}
		cfg, err := loadConfig(e, a.config)
		if err != nil {
			return diag.ExConfig
		}
		code := 0
		for i, id := range a.ids {
			m, err := queue.ReadMessage(cfg.Queue.Spool, id)
			if err != nil {
				fmt.Fprintf(e.stderr, "ebb queue show: %v\n", err)
				code = diag.ExNoInput
				continue
			}
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			writeMessage(e.stdout, m, time.Now())
		}
		return code
	case "flush", "hold", "release", "delete", "requeue":
		op := queue.Op(sub)
		if len(a.ids) == 0 && op != queue.OpFlush {
			fmt.Fprintf(e.stderr, "ebb queue %s: give one or more queue ids (see ebb mailq)\n", sub)
			return diag.ExUsage
		}
		cfg, err := loadConfig(e, a.config)
		if err != nil {
			return diag.ExConfig
		}
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		var res []queue.OpResult
		if a.domain != "" && op == queue.OpFlush && len(a.ids) == 0 {
			res, err = queue.ControlDomain(e.ctx, cfg, log, a.domain)
		} else {
			res, err = queue.Control(e.ctx, cfg, log, op, a.ids)
		}
		if err != nil {
			return fail(e, err, "ebb queue")
		}
		code, n := 0, 0
		for _, r := range res {
			if r.Error != "" {
				fmt.Fprintf(e.stderr, "ebb queue %s: %s\n", sub, r.Error)
				code = diag.ExNoInput
				continue
			}
			n++
		}
		fmt.Fprintf(e.stdout, "%s: %d message%s\n", sub, n, plural(n))
		return code
	}
	fmt.Fprintf(e.stderr, "ebb queue: unknown subcommand %q\n%s\n", sub, queueUsage)
	return diag.ExUsage
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// writeMessage prints one message for `ebb queue show`.
func writeMessage(w io.Writer, m *queue.Message, now time.Time) {
	env := m.Envelope
	fmt.Fprintf(w, "Message %s\n", m.ID)
	fmt.Fprintf(w, "  data:      %s (%s)\n", m.DataPath, diag.HumanBytes(uint64(m.Size)))
	fmt.Fprintf(w, "  arrived:   %s (%s ago)\n", m.Arrived.Local().Format(time.RFC1123Z), queue.FormatAge(m.Age(now)))
	fmt.Fprintf(w, "  from:      %s\n", addr(env.From))
	if env.ClientAddr != "" || env.ClientHelo != "" {
		fmt.Fprintf(w, "  client:    %s helo %q name %q\n", env.ClientAddr, env.ClientHelo, env.ClientName)
	}
	if env.Proto != "" {
		fmt.Fprintf(w, "  protocol:  %s\n", env.Proto)
	}
	if env.AuthUser != "" {
		fmt.Fprintf(w, "  auth:      %s\n", env.AuthUser)
	}
	if env.SessionID != "" {
		fmt.Fprintf(w, "  session:   %s\n", env.SessionID)
	}
	if env.Ret != "" || env.EnvID != "" {
		fmt.Fprintf(w, "  dsn:       ret %s envid %q (RFC 3461)\n", strings.ToUpper(env.Ret), env.EnvID)
	}
	if env.RequireTLS {
		fmt.Fprintln(w, "  requiretls: yes (RFC 8689: relayed only over verified TLS)")
	}
	if m.Held {
		fmt.Fprintln(w, "  held:      yes (ebb queue release "+m.ID+")")
	}
	if m.DelayNotified {
		fmt.Fprintln(w, "  delay notice sent to the sender")
	}
	fmt.Fprintln(w, "\nRecipients:")
	for _, r := range m.Recipients {
		fmt.Fprintf(w, "  %-9s %s  attempts %d", r.State, addr(r.Address), r.Attempts)
		if !r.Last.IsZero() {
			fmt.Fprintf(w, "  last %s", r.Last.Local().Format("2006-01-02 15:04:05"))
		}
		if r.State == queue.Deferred {
			fmt.Fprintf(w, "  next %s", nextAttempt(r.Next, now, m.Held))
		}
		if r.Error != nil && r.Error.Ref != "" && r.State != queue.Delivered {
			fmt.Fprintf(w, "  ref %s", r.Error.Ref)
		}
		if r.Notified {
			fmt.Fprint(w, "  (sender notified)")
		}
		if p := env.DSNFor(r.Address); len(p.Notify) > 0 || p.ORCPT != "" {
			fmt.Fprintf(w, "  notify %s", strings.Join(p.Notify, ","))
			if p.ORCPT != "" {
				fmt.Fprintf(w, " orcpt %s;%s", p.ORCPTType, p.ORCPT)
			}
		}
		fmt.Fprintln(w)
		if r.Error != nil && r.State != queue.Delivered {
			fmt.Fprintf(w, "            %s\n", r.Error.Sentence())
		}
	}
	fmt.Fprintln(w, "\nHeaders:")
	hdr, err := queue.Headers(m)
	for _, line := range strings.Split(strings.TrimRight(hdr, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	if err != nil {
		fmt.Fprintf(w, "  (cannot read the data file: %v)\n", err)
	}
	fmt.Fprintln(w, "\nHistory:")
	if len(m.History) == 0 {
		fmt.Fprintln(w, "  no attempt yet")
	}
	for _, a := range m.History {
		fmt.Fprintf(w, "  %s  %-9s %s", a.Time.Local().Format("2006-01-02 15:04:05"), a.Outcome, addr(a.Recipient))
		if a.Duration > 0 {
			fmt.Fprintf(w, "  (%s)", a.Duration.Round(time.Millisecond))
		}
		if a.Error != nil && a.Error.Ref != "" {
			fmt.Fprintf(w, "  ref %s", a.Error.Ref)
		}
		fmt.Fprintln(w)
		if a.Error != nil {
			fmt.Fprintf(w, "            %s\n", a.Error.Sentence())
		}
	}
}
