package daemon

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/explain"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
	"github.com/ebbmail/ebb/internal/tide"
)

// tideFile is the page's own history under server.data_dir.
const tideFile = "tide.jsonl"

// startTide makes the queue-tide page (internal/tide) and the sampler
// that feeds its history: one sample at start, one a minute, and a last
// one at the stop it returns (so a restart shows where the queue stood).
func (d *daemon) startTide() (stop func()) {
	if d.metrLn == nil {
		return func() {}
	}
	hist := tide.OpenHistory(filepath.Join(d.cfg.Server.DataDir, tideFile), tide.Week)
	spool := d.q.Spool()
	p := &tide.Page{
		History:      hist,
		Stats:        d.q.Stats,
		Listing:      func() (*queue.Listing, error) { return queue.List(spool) },
		Host:         smtpOptions(d.cfg).Hostname,
		Certificates: d.certificates,
		Hosts:        d.otherHosts(), // cluster.go: every host's queue
		Notes: func() []string {
			var b bytes.Buffer
			scan.WriteBreakerNotes(&b, filepath.Join(d.cfg.Server.DataDir, scan.BreakerFile), time.Now())
			return strings.FieldsFunc(b.String(), func(r rune) bool { return r == '\n' })
		},
	}
	if d.jr != nil {
		src := d.jr.src
		p.Explain = func(id string) ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// As ebb explain finds it (internal/explain): a queue id, or
			// a ref of that shape, followed across hosts.
			q, err := explain.Parse(id, 0, time.Now())
			if err != nil {
				return nil, err
			}
			a, err := explain.Find(ctx, src, q)
			if err != nil {
				return nil, err
			}
			return journal.Story(a.Records, time.Local), nil
		}
	}
	d.metrics.Page = p
	sample := func() {
		st := d.q.Stats()
		if err := hist.Add(tide.Sample{T: time.Now().UTC(), Messages: st.Messages, Pending: st.Depth[queue.Pending],
			Deferred: st.Depth[queue.Deferred], Delivered: st.Deliveries[queue.Delivered],
			Deferrals: st.Deliveries[queue.Deferred], Failed: st.Deliveries[queue.Failed]}); err != nil {
			d.log.Warn("queue tide: cannot store a sample", "file", filepath.Join(d.cfg.Server.DataDir, tideFile), "err", err.Error())
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sample()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// certificates are the page's certificate table: ACME's with their
// renewal and last failure, and smtp.tls_cert's / submission.tls_cert's.
func (d *daemon) certificates() []tide.Certificate {
	var out []tide.Certificate
	if d.acme != nil {
		for _, s := range d.acme.Statuses() {
			c := tide.Certificate{Name: strings.Join(s.Names, ", "), Source: "acme", NotAfter: s.NotAfter, RenewAt: s.RenewAt}
			if f := s.State.LastError; f != nil {
				why := f.Message
				if f.Problem != nil {
					why = "the CA said: " + f.Problem.String()
				}
				c.Problem = fmt.Sprintf("%d failed orders, the last %s at %s: %s. Fix: %s", s.State.Failures,
					f.Time.Local().Format("2006-01-02 15:04"), f.Stage, why, f.Hint)
			}
			out = append(out, c)
		}
	}
	for _, e := range d.certExpiries() {
		out = append(out, tide.Certificate{Name: e.Name, Source: e.Source, NotAfter: e.NotAfter})
	}
	return out
}
