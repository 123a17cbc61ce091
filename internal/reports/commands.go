package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/pickup"
)

// What the commands (ebb report, ebb dmarc report, ebb tlsrpt report) do;
// cmd/ebb only parses their flags.

// OpenForCommand opens reports.store for a command: read-only (nothing
// created) unless write; a store to write, made by root, is given to
// server.user. A missing or unreadable store is a *diag.Error naming
// reports.store.
func OpenForCommand(ctx context.Context, cfg *config.Config, write bool) (Store, error) {
	o := StoreOptions{ReadOnly: !write}
	if write && os.Geteuid() == 0 {
		u, err := mailuser.ForRoot(cfg)
		if err != nil {
			return nil, err
		}
		o.Owner = u
	}
	st, err := Open(ctx, cfg, o)
	if err == nil {
		return st, nil
	}
	path := cfg.ReportsStore()
	if errors.Is(err, ErrNoStore) {
		e := diag.New("open", "read the reports store", path, errors.New("it does not exist yet: nothing was recorded or received"))
		e.Setting, e.Class, e.Exit = cfg.Setting("reports.store"), diag.Permanent, diag.ExNoInput
		e.SetFix(diag.Because("ebb serve creates it when it starts", diag.Say("start ebb serve with this config; reports are recorded from then on")))
		return nil, e
	}
	return nil, diag.PathError("ebb", "open", "open the reports store", path, err, cfg.Setting("reports.store"))
}

// PendingReport is a report not sent yet.
type PendingReport struct {
	Kind, Domain, Day string
	Due               time.Time
}

// Status is what ebb report status says: the reports finished in the last
// days, those waiting, and what is recorded for today.
type Status struct {
	Sent    []Sent          `json:"sent"`
	Pending []PendingReport `json:"pending"`
	// Today is what is recorded for today (UTC): kind → domain → TLS
	// sessions or DMARC-judged messages.
	Today map[string]map[string]int64 `json:"recorded_today"`
}

// GetStatus reads the status from st as of now.
func GetStatus(ctx context.Context, cfg *config.Config, st Store, now time.Time, days int) (*Status, error) {
	s := &Status{Today: map[string]map[string]int64{}}
	var err error
	if s.Sent, err = st.SentSince(ctx, now.Add(-time.Duration(days)*24*time.Hour)); err != nil {
		return nil, err
	}
	tomorrow := DayOf(now.Add(24 * time.Hour))
	for _, kind := range []string{KindTLS, KindDMARC} {
		pend, err := st.Pending(ctx, kind, tomorrow, now)
		if err != nil {
			return nil, err
		}
		for _, p := range pend {
			_, end, _ := DayBounds(p.Day)
			s.Pending = append(s.Pending, PendingReport{Kind: kind, Domain: p.Domain, Day: p.Day, Due: end.Add(cfg.Reports.SendAfter.Duration)})
		}
		if s.Today[kind], err = st.Counts(ctx, kind, DayOf(now)); err != nil {
			return nil, err
		}
	}
	if s.Sent == nil {
		s.Sent = []Sent{}
	}
	if s.Pending == nil {
		s.Pending = []PendingReport{}
	}
	return s, nil
}

// WriteStatus prints the status for people.
func WriteStatus(w io.Writer, cfg *config.Config, s *Status) {
	fmt.Fprintf(w, "Today (UTC) so far: TLS sessions with %d domains, DMARC evaluations of %d domains that ask for reports.\n",
		len(s.Today[KindTLS]), len(s.Today[KindDMARC]))
	for _, kind := range []string{KindTLS, KindDMARC} {
		for _, d := range keys(s.Today[kind], true) {
			fmt.Fprintf(w, "  %-5s %s\n", kind, d)
		}
	}
	onoff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	fmt.Fprintf(w, "Sending: TLS reports %s (reports.tls_send), DMARC reports %s (reports.dmarc_send), from %s, %s after each UTC day.\n\n",
		onoff(cfg.Reports.TLSSend), onoff(cfg.Reports.DMARCSend), cfg.ReportsFrom(), cfg.Reports.SendAfter.Duration)
	if len(s.Pending) > 0 {
		fmt.Fprintln(w, "Waiting:")
		for _, p := range s.Pending {
			fmt.Fprintf(w, "  %-5s %-30s %s  due %s\n", p.Kind, p.Domain, p.Day, p.Due.UTC().Format("2006-01-02 15:04 UTC"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Sent or settled:")
	WriteSent(w, s.Sent)
}

// SendFromCommand is ebb report send: the reports that are due (day ""),
// or those of one day ("today" too; sent again with again), made here and queued
// through the pickup directory (the daemon takes them at once when it
// runs, later when it starts).
func SendFromCommand(ctx context.Context, cfg *config.Config, day string, again bool, log *slog.Logger) ([]Sent, error) {
	if day == "today" {
		day = DayOf(time.Now())
	}
	st, err := OpenForCommand(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s := &Sender{Store: st, Cfg: cfg, TXT: dnsresolve.NewClient(cfg), Outbox: pickupOutbox{pickup.DropFor(cfg)}, Log: log}
	if day == "" {
		return s.SendDue(ctx)
	}
	return s.SendDay(ctx, day, again)
}

// pickupOutbox queues through the pickup directory, as ebb sendmail does.
type pickupOutbox struct{ d *pickup.Drop }

func (o pickupOutbox) Submit(ctx context.Context, from string, to []string, msg []byte) (string, error) {
	return o.d.Queue(ctx, from, to, bytes.NewReader(msg))
}

// StatusFromCommand is ebb report status: the store opened read-only, and
// its status as of now over the last days.
func StatusFromCommand(ctx context.Context, cfg *config.Config, now time.Time, days int) (*Status, error) {
	st, err := OpenForCommand(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return GetStatus(ctx, cfg, st, now, days)
}

// SentExitCode is ebb report send's exit code: 0 when every report was
// sent or skipped, 75 when one is to be retried, else 1 when one failed.
func SentExitCode(sent []Sent) int {
	code := 0
	for _, x := range sent {
		switch x.State {
		case StateFailed:
			code = max(code, 1)
		case StateRetry:
			code = diag.ExTempFail
		}
	}
	return code
}

// Summary is what ebb dmarc report and ebb tlsrpt report print: JSON as
// it is, WriteText for people.
type Summary interface{ WriteText(w io.Writer) }

func (s *DMARCSummary) WriteText(w io.Writer) { WriteDMARC(w, s) }
func (s *TLSSummary) WriteText(w io.Writer)   { WriteTLS(w, s) }

// ReceivedFromCommand is ebb dmarc report (kind KindDMARC) and ebb tlsrpt
// report (KindTLS): the reports received about domain in the last days
// before now, from the store opened read-only, summarised.
func ReceivedFromCommand(ctx context.Context, cfg *config.Config, kind, domain string, days int, now time.Time) (Summary, error) {
	st, err := OpenForCommand(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	since := now.Add(-time.Duration(days) * 24 * time.Hour)
	rs, err := st.ReceivedFor(ctx, kind, domain, since)
	if err != nil {
		return nil, err
	}
	if kind == KindDMARC {
		return SummariseDMARC(domain, since, rs), nil
	}
	return SummariseTLS(domain, since, rs), nil
}
