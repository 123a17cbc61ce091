package queue

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// WriteMailq is mailq's answer, whoever asks (ebb mailq, or sendmail -bp
// through the daemon): the spool of cfg listed, each quoted setting
// compared with the config as it reads now (NoteSettings), with its
// summary, as JSON or for people at now. Nothing is written when the
// spool cannot be read.
func WriteMailq(w io.Writer, cfg *config.Config, asJSON bool, now time.Time) error {
	l, err := List(cfg.Queue.Spool)
	if err != nil {
		return err
	}
	NoteSettings(l, cfg)
	if asJSON {
		return WriteListingJSON(w, l, Summarize(l))
	}
	WriteListing(w, l, Summarize(l), now)
	if e := spoolRefuses(cfg); e != nil {
		// An empty queue can mean that nothing gets in: say so.
		fmt.Fprintf(w, "\nnew mail is not queued now (clients get 451 4.3.0, sendmail exit 75): %s\n", e.Sentence())
	}
	return nil
}

// spoolRefuses is what keeps ebb serve, as server.user, from creating
// files in the queue directory, nil when nothing does (or when this
// process cannot tell: an ordinary user cannot look into the spool).
func spoolRefuses(cfg *config.Config) *diag.Error {
	u, err := mailuser.Lookup(cfg)
	if err != nil {
		return nil
	}
	who := &diag.Identity{UID: u.UID, User: cfg.Server.User, GID: u.GID, Group: diag.GroupName(u.GID)}
	dir := filepath.Join(cfg.Queue.Spool, QueueDir)
	f := diag.DeniedTo(dir, who, 0o3)
	if f == nil {
		return nil
	}
	e := diag.PathErrorAs("ebb serve", "create", "create a file in", dir, syscall.EACCES, cfg.Setting("queue.spool"), who)
	e.Found = f
	return e.Refix()
}

// WriteMessages is ebb queue show: each message of ids in spool as
// WriteMessage tells it at now, a blank line between two; an id that is
// not in the queue is an error of its own (returned, the others shown;
// exit 66).
func WriteMessages(w io.Writer, spool string, ids []string, now time.Time) []error {
	var errs []error
	for i, id := range ids {
		m, err := ReadMessage(spool, id)
		if err != nil {
			errs = append(errs, notQueued{err})
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		WriteMessage(w, m, now)
	}
	return errs
}

// WriteListingJSON writes the listing and its summary as indented JSON
// (mailq --json; docs/queue.md).
func WriteListingJSON(w io.Writer, l *Listing, sum Summary) error {
	out := struct {
		*Listing
		Summary Summary `json:"summary"`
	}{l, sum}
	if out.Messages == nil {
		out.Messages = []*Message{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// NoteSettings compares the settings the listed errors quote (the values
// of their attempts) with cfg, the config as it reads now, and marks each
// one whose value has changed since (a reload, an edit): mailq then says
// both instead of quoting a line the file no longer holds.
func NoteSettings(l *Listing, cfg *config.Config) {
	for _, m := range l.Messages {
		for _, r := range m.Recipients {
			if r.Error == nil || r.Error.Setting == nil || r.Error.Setting.Key == "" || strings.HasPrefix(r.Error.Setting.Key, "-") {
				continue
			}
			s := r.Error.Setting
			if cur := cfg.Setting(s.Key); cur.Value != s.Value && cfg.Has(s.Key) {
				v := cur.Value
				s.Now = &v
			}
		}
	}
}

// WriteListing writes the mailq listing of l (and its summary) as text.
func WriteListing(w io.Writer, l *Listing, sum Summary, now time.Time) {
	if len(l.Messages) == 0 && l.Incomplete == 0 && len(l.Damaged) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return
	}
	for _, m := range l.Messages {
		held := ""
		if m.Held {
			held = "  HELD"
		}
		fmt.Fprintf(w, "%s  %s  age %s  from %s%s\n", m.ID, diag.HumanBytes(uint64(m.Size)),
			FormatAge(m.Age(now)), addr(m.From()), held)
		for _, r := range m.Recipients {
			fmt.Fprintf(w, "  %-9s %s", r.State, addr(r.Address))
			if r.Attempts > 0 {
				fmt.Fprintf(w, "  attempts %d", r.Attempts)
			}
			if r.State == Deferred {
				fmt.Fprintf(w, "  next %s", NextAttempt(r.Next, now, m.Held))
			}
			if r.Error != nil && r.Error.Ref != "" && r.State != Delivered {
				fmt.Fprintf(w, "  ref %s", r.Error.Ref)
			}
			fmt.Fprintln(w)
			if r.Error != nil && r.State != Delivered {
				fmt.Fprintf(w, "            %s\n", r.Error.Sentence())
			}
		}
		fmt.Fprintln(w)
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(w, "damaged: %s: %s\n", d.Path, d.Error)
	}
	if l.Incomplete > 0 {
		fmt.Fprintf(w, "%s without an envelope (receives in progress, or left by a crash and never acknowledged)\n", diag.Count(l.Incomplete, "data file"))
	}
	var states []string
	for _, st := range []State{Pending, Deferred, Failed, Delivered} {
		if n := sum.ByState[st]; n > 0 {
			states = append(states, fmt.Sprintf("%d %s", n, st))
		}
	}
	fmt.Fprintf(w, "-- %s", diag.Count(sum.Messages, "message"))
	if sum.Held > 0 {
		fmt.Fprintf(w, " (%d held)", sum.Held)
	}
	fmt.Fprintf(w, ", %s: %s\n", diag.Count(sum.Recipients, "recipient"), strings.Join(states, ", "))
	for _, g := range sum.Reasons {
		fmt.Fprintf(w, "%d %s: %s\n", g.Count, g.State, g.Reason)
		if g.Hint != "" {
			fmt.Fprintf(w, "    fix: %s\n", g.Hint)
		}
	}
}

func addr(a string) string { return "<" + a + ">" }

// NextAttempt says when a deferred recipient is tried again.
func NextAttempt(next, now time.Time, held bool) string {
	if held {
		return "when released"
	}
	if next.IsZero() || !next.After(now) {
		return "now"
	}
	return fmt.Sprintf("in %s (%s)", FormatAge(next.Sub(now)), next.Local().Format("15:04:05"))
}

// WriteMessage prints one message for `ebb queue show`: the envelope,
// each recipient with its state and reason, the headers, the history.
func WriteMessage(w io.Writer, m *Message, now time.Time) {
	env := m.Envelope
	fmt.Fprintf(w, "Message %s\n", m.ID)
	fmt.Fprintf(w, "  data:      %s (%s)\n", m.File, diag.HumanBytes(uint64(m.Size)))
	fmt.Fprintf(w, "  arrived:   %s (%s ago)\n", m.Arrived.Local().Format(time.RFC1123Z), FormatAge(m.Age(now)))
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
		if r.State == Deferred {
			fmt.Fprintf(w, "  next %s", NextAttempt(r.Next, now, m.Held))
		}
		if r.Error != nil && r.Error.Ref != "" && r.State != Delivered {
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
		if r.Error != nil && r.State != Delivered {
			fmt.Fprintf(w, "            %s\n", r.Error.Sentence())
		}
	}
	fmt.Fprintln(w, "\nHeaders:")
	hdr, err := Headers(m)
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
