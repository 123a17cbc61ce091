package reports

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/tlsrpt"
)

// TXTResolver looks up TXT records (dnsresolve.Client).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Outbox sends a report by mail through ebb's own queue: the daemon's
// queue, or the pickup directory for a command run beside it. The relay
// signs it with the DKIM key of its From: domain as it leaves.
type Outbox interface {
	Submit(ctx context.Context, from string, to []string, msg []byte) (id string, err error)
}

// Sender makes and sends the daily reports.
type Sender struct {
	Store   Store
	Cfg     *config.Config
	TXT     TXTResolver
	Outbox  Outbox
	HTTP    *http.Client // nil: NewHTTPClient(Cfg)
	Now     func() time.Time
	Log     *slog.Logger
	Metrics *Metrics
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Sender) reporter() Reporter {
	host := strings.TrimSuffix(s.Cfg.Server.Hostname, ".")
	if host == "" {
		host, _ = os.Hostname()
	}
	return Reporter{Org: s.Cfg.ReportsOrg(), Email: s.Cfg.ReportsFrom(), Contact: s.Cfg.ReportsContact(), Submitter: host}
}

func (s *Sender) enabled(kind string) bool {
	if kind == KindDMARC {
		return s.Cfg.Reports.DMARCSend
	}
	return s.Cfg.Reports.TLSSend
}

// SendDue sends the reports of every UTC day that ended at least
// reports.send_after ago and has none yet (retrying those that failed
// for a while, an hour apart), and prunes what is older than
// reports.retention. The daemon calls it every few minutes; ebb report
// send --now calls it once.
func (s *Sender) SendDue(ctx context.Context) ([]Sent, error) {
	now := s.now()
	before := DayOf(now.Add(-s.Cfg.Reports.SendAfter.Duration))
	var out []Sent
	for _, kind := range []string{KindTLS, KindDMARC} {
		if !s.enabled(kind) {
			continue
		}
		due, err := s.Store.Pending(ctx, kind, before, now)
		if err != nil {
			return out, err
		}
		for _, dd := range due {
			if x, ok := s.send(ctx, kind, dd, false); ok {
				out = append(out, x)
			}
		}
	}
	if err := s.Store.Prune(ctx, now.Add(-s.Cfg.Reports.Retention.Duration)); err != nil {
		s.log().Warn("reports: cannot prune old records", "err", err)
	}
	return out, nil
}

// SendDay sends the reports of day for every domain with records then,
// whether the day is over or not (its report covers the whole UTC day):
// ebb report send --day. A report already sent is sent again only with
// force.
func (s *Sender) SendDay(ctx context.Context, day string, force bool) ([]Sent, error) {
	if _, _, err := DayBounds(day); err != nil {
		return nil, fmt.Errorf("%q is not a day (2006-01-02)", day)
	}
	var out []Sent
	for _, kind := range []string{KindTLS, KindDMARC} {
		if !s.enabled(kind) {
			continue
		}
		domains, err := s.Store.Domains(ctx, kind, day)
		if err != nil {
			return out, err
		}
		for _, d := range domains {
			if x, ok := s.send(ctx, kind, DomainDay{Domain: d, Day: day}, force); ok {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// send makes and sends one report, once: false when another sender has
// it or it was sent before.
func (s *Sender) send(ctx context.Context, kind string, dd DomainDay, force bool) (Sent, bool) {
	got, err := s.Store.Claim(ctx, kind, dd.Domain, dd.Day, force, s.now())
	if err != nil {
		s.log().Error("reports: cannot claim a report", "kind", kind, "domain", dd.Domain, "day", dd.Day, "err", err)
		return Sent{}, false
	}
	if !got {
		return Sent{}, false
	}
	var x Sent
	if kind == KindTLS {
		x = s.sendTLS(ctx, dd)
	} else {
		x = s.sendDMARC(ctx, dd)
	}
	x.Kind, x.Domain, x.Day, x.At = kind, dd.Domain, dd.Day, s.now()
	if err := s.Store.Finish(ctx, x); err != nil {
		s.log().Error("reports: cannot record what became of a report", "kind", kind, "domain", dd.Domain, "day", dd.Day, "err", err)
	}
	s.Metrics.report(kind, x.State)
	lvl := slog.LevelInfo
	if x.State == StateFailed || x.State == StateRetry {
		lvl = slog.LevelWarn
	}
	s.log().Log(ctx, lvl, "report "+x.State, "kind", kind, "domain", dd.Domain, "day", dd.Day, "detail", x.Detail)
	return x, true
}

// outcome folds the destinations' results into the report's state.
type outcome struct {
	ok, failed, temp []string
}

func (o *outcome) state(none string) Sent {
	switch {
	case len(o.ok) > 0:
		d := "to " + strings.Join(o.ok, ", ")
		if len(o.failed)+len(o.temp) > 0 {
			d += "; not to " + strings.Join(append(o.failed, o.temp...), "; ")
		}
		return Sent{State: StateSent, Detail: d}
	case len(o.temp) > 0:
		return Sent{State: StateRetry, Detail: strings.Join(append(o.temp, o.failed...), "; ")}
	case len(o.failed) > 0:
		return Sent{State: StateFailed, Detail: strings.Join(o.failed, "; ")}
	}
	return Sent{State: StateSkipped, Detail: none}
}

func (s *Sender) sendTLS(ctx context.Context, dd DomainDay) Sent {
	name := "_smtp._tls." + dd.Domain
	txts, err := s.TXT.LookupTXT(ctx, name)
	if err != nil {
		if dnsresolve.IsNotFound(err) {
			return Sent{State: StateSkipped, Detail: "no TLSRPT record at " + name}
		}
		return Sent{State: StateRetry, Detail: "TXT lookup of " + name + ": " + err.Error()}
	}
	rec, err := tlsrpt.SelectRecord(txts)
	if err != nil {
		return Sent{State: StateSkipped, Detail: name + ": " + err.Error()}
	}
	rp := s.reporter()
	_, rep, gz, failed := build(ctx, rp, dd, s.Store.TLSRecords, BuildTLS, (*tlsrpt.Report).Gzip)
	if failed != nil {
		return *failed
	}
	file := tlsrpt.FileName(rp.Submitter, dd.Domain, rep.DateRange.Start, rep.DateRange.End, "")
	var o outcome
	for _, u := range rec.RUA {
		switch strings.ToLower(u.Scheme) {
		case "mailto":
			// The address as the record's parser read it (percent-
			// decoded: "tls%40example.net" is tls@example.net).
			a, err := envaddr.ParseMailto(u.String())
			if err != nil {
				continue // tlsrpt.ParseRecord kept only those that parse
			}
			to := a.String()
			m := reportMail{From: rp.Email, To: to, Host: rp.Submitter, Date: s.now(),
				Subject:   fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", dd.Domain, rp.Submitter, rep.ReportID),
				Extra:     []string{"TLS-Report-Domain: " + dd.Domain, "TLS-Report-Submitter: " + rp.Submitter},
				MediaType: `multipart/report; report-type="tlsrpt"`,
				Text:      fmt.Sprintf("This is an aggregate TLS report (RFC 8460) from %s about mail to %s on %s (UTC).\n", rp.Submitter, dd.Domain, dd.Day),
				AttachCT:  "application/tlsrpt+gzip", FileName: file, Data: gz}
			s.mail(ctx, KindTLS, &o, to, m)
		case "https":
			s.post(ctx, &o, u.String(), gz)
		}
	}
	return o.state("no destination")
}

// build reads the records of dd, makes the report from them and gzips
// it; failed is the outcome when it cannot (the store's trouble is
// retried, a report that cannot be made is not).
func build[R, P any](ctx context.Context, rp Reporter, dd DomainDay, read func(ctx context.Context, domain, day string) ([]R, error),
	assemble func(Reporter, string, string, []R) (P, error), gzip func(P) ([]byte, error)) (recs []R, rep P, gz []byte, failed *Sent) {
	recs, err := read(ctx, dd.Domain, dd.Day)
	if err != nil {
		return nil, rep, nil, &Sent{State: StateRetry, Detail: "read the records: " + err.Error()}
	}
	if rep, err = assemble(rp, dd.Domain, dd.Day, recs); err == nil {
		gz, err = gzip(rep)
	}
	if err != nil {
		return nil, rep, nil, &Sent{State: StateFailed, Detail: err.Error()}
	}
	return recs, rep, gz, nil
}

// mail queues one report message to addr.
func (s *Sender) mail(ctx context.Context, kind string, o *outcome, addr string, m reportMail) {
	id, err := s.Outbox.Submit(ctx, m.From, []string{addr}, m.bytes())
	if err != nil {
		s.Metrics.destination(kind, "mailto", "failed")
		o.temp = append(o.temp, "mailto:"+addr+": "+err.Error())
		return
	}
	s.Metrics.destination(kind, "mailto", "ok")
	o.ok = append(o.ok, "mailto:"+addr+" (queued as "+id+")")
}

// post sends a TLS report by HTTPS (RFC 8460 §5.2): POST, the gzipped
// report as application/tlsrpt+gzip; a 2xx is success.
func (s *Sender) post(ctx context.Context, o *outcome, url string, gz []byte) {
	c := s.HTTP
	if c == nil {
		var err error
		if c, err = NewHTTPClient(s.Cfg); err != nil {
			o.failed = append(o.failed, url+": "+err.Error())
			return
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(gz))
	if err != nil {
		s.Metrics.destination(KindTLS, "https", "failed")
		o.failed = append(o.failed, url+": "+err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := c.Do(req)
	if err != nil {
		s.Metrics.destination(KindTLS, "https", "failed")
		o.temp = append(o.temp, url+": "+err.Error())
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.Metrics.destination(KindTLS, "https", "failed")
		why := url + ": " + resp.Status
		if resp.StatusCode >= 500 {
			o.temp = append(o.temp, why)
		} else {
			o.failed = append(o.failed, why)
		}
		return
	}
	s.Metrics.destination(KindTLS, "https", "ok")
	o.ok = append(o.ok, url+" ("+resp.Status+")")
}

func (s *Sender) sendDMARC(ctx context.Context, dd DomainDay) Sent {
	rp := s.reporter()
	recs, f, gz, failed := build(ctx, rp, dd, s.Store.DMARCRecords, BuildDMARC, (*dmarcrpt.Feedback).Gzip)
	if failed != nil {
		return *failed
	}
	dests, skipped := dmarcrpt.ParseRUA(recs[len(recs)-1].RUA)
	start, end, _ := DayBounds(dd.Day)
	file := dmarcrpt.FileName(rp.Submitter, dd.Domain, start, end.Add(-time.Second), "")
	var o outcome
	o.failed = append(o.failed, skipped...)
	for _, d := range dests {
		if why, temp := s.authorised(ctx, dd.Domain, d.Address); why != "" {
			s.Metrics.destination(KindDMARC, "mailto", "unauthorised")
			if temp {
				o.temp = append(o.temp, "mailto:"+d.Address+": "+why)
			} else {
				o.failed = append(o.failed, "mailto:"+d.Address+": "+why)
			}
			continue
		}
		if d.MaxSize > 0 && int64(len(gz)) > d.MaxSize {
			s.Metrics.destination(KindDMARC, "mailto", "too_large")
			o.failed = append(o.failed, fmt.Sprintf("mailto:%s: the report is %d bytes, the destination takes at most %d", d.Address, len(gz), d.MaxSize))
			continue
		}
		m := reportMail{From: rp.Email, To: d.Address, Host: rp.Submitter, Date: s.now(),
			Subject:   fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", dd.Domain, rp.Submitter, f.Metadata.ReportID),
			MediaType: "multipart/mixed",
			Text:      fmt.Sprintf("This is a DMARC aggregate report (RFC 7489) from %s about mail from %s on %s (UTC).\n", rp.Submitter, dd.Domain, dd.Day),
			AttachCT:  "application/gzip", FileName: file, Data: gz}
		s.mail(ctx, KindDMARC, &o, d.Address, m)
	}
	return o.state("the DMARC record of " + dd.Domain + " names no usable rua")
}

// authorised applies RFC 7489 §7.1: a destination outside the policy
// domain's organisation gets its reports only when it publishes
// <policy-domain>._report._dmarc.<its domain> with v=DMARC1. It returns
// why not ("" when it may), and whether that may change on a retry.
func (s *Sender) authorised(ctx context.Context, policyDomain, addr string) (string, bool) {
	_, dest, _ := envaddr.Split(addr)
	dest = strings.ToLower(dest)
	if msgauth.OrgDomain(dest) == msgauth.OrgDomain(policyDomain) {
		return "", false
	}
	name := dmarcrpt.AuthorizationName(policyDomain, dest)
	txts, err := s.TXT.LookupTXT(ctx, name)
	if err != nil && !dnsresolve.IsNotFound(err) {
		return "TXT lookup of " + name + ": " + err.Error(), true
	}
	if !dmarcrpt.Authorizes(txts) {
		return fmt.Sprintf("%s is outside %s's organisation and does not take its reports (no v=DMARC1 record at %s, RFC 7489 §7.1)", dest, policyDomain, name), false
	}
	return "", false
}

// NewHTTPClient is the client for rua=https: reports: names resolved
// through dns.resolver, certificates verified with the system's roots and
// reports.ca_file, reports.timeout for the whole request, no redirects
// followed (a report is posted where the record says).
func NewHTTPClient(cfg *config.Config) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f := cfg.Reports.CAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reports.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("reports.ca_file %s: no PEM certificate in it", f)
		}
		tc.RootCAs = pool
	}
	d := &net.Dialer{Timeout: cfg.Reports.Timeout.Duration, Resolver: dnsresolve.New(cfg)}
	return &http.Client{
		Timeout:   cfg.Reports.Timeout.Duration,
		Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tc, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirect not followed")
		},
	}, nil
}
