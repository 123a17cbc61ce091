package reports

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/ebbmail/ebb/internal/arfield"
	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/tlsrpt"
)

// Intake reads the reports that arrive for the hosted domains, after the
// message is delivered to its mailbox: TLS reports (RFC 8460 §5.3: an
// application/tlsrpt+gzip or +json part) and DMARC aggregate reports
// (RFC 7489 §7.2.1.1: an XML file, gzip or zip, attached or alone).
type Intake struct {
	Store Store
	// AuthservID is ours: only our Authentication-Results field in the
	// queue's prefix says whether the message passed DMARC.
	AuthservID string
	// Mode is reports.receive: authenticated, all or off.
	Mode string
	// Max bounds an attachment, decompressed (reports.max_received_size).
	Max int64
	// Hosted reports whether a domain is hosted here: a report about
	// another domain is not kept. nil: every domain.
	Hosted  func(ctx context.Context, domain string) bool
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// maxParts bounds the MIME parts looked at in one message.
const maxParts = 32

// Message looks at one delivered message (prefix: the queue's header
// lines in front of it, with our Authentication-Results; data: the
// message as stored) and keeps the reports in it. A message that is no
// report costs the reading of its header. A header that cannot be read
// is said (Unread) and returned: the caller notes it on the delivery's
// record.
func (in *Intake) Message(ctx context.Context, queueID, prefix string, data io.Reader) ([]Received, error) {
	if in.Mode == "off" {
		return nil, nil
	}
	br := bufpool.Reader(data)
	defer bufpool.PutReader(br) // nothing found keeps it
	sc := mailhdr.NewScanner(br)
	var ct, cte string
	for sc.Scan() {
		fl := sc.Field()
		switch {
		case fl.Is("Content-Type"):
			ct = fl.Value()
		case fl.Is("Content-Transfer-Encoding"):
			cte = fl.Value()
		}
	}
	if err := sc.Err(); err != nil {
		in.Unread(queueID, err)
		return nil, err
	}
	mt, params, ok := mayHold(ct)
	if !ok {
		return nil, nil
	}
	var found []Received
	auth, authDomain := in.authenticated(prefix)
	in.walk(ctx, mt, params, "", cte, br, 0, func(kind string, r io.Reader, name string) {
		rec := in.parse(kind, r, name)
		if rec == nil {
			return
		}
		rec.QueueID, rec.Authenticated, rec.AuthDomain = queueID, auth, authDomain
		if in.keep(ctx, rec) {
			found = append(found, *rec)
		}
	})
	return found, nil
}

// Unread says that the delivered message queueID could not be read (err)
// to look for a report, so a report it held is not kept: a log line and
// ebb_reports_messages_unread_total (principle 7). The caller notes it on
// the delivery's record.
func (in *Intake) Unread(queueID string, err error) {
	in.Metrics.unreadMessage()
	in.log().Warn("reports: cannot read a delivered message to look for a report; a report it holds is not kept", "queue_id", queueID, "err", err)
}

// UnreadNote is the delivery record's note for a message the intake could
// not read (err).
func UnreadNote(err error) string {
	return fmt.Sprintf("not read for a TLS or DMARC report (%v): a report it holds is not kept", err)
}

// MayHold says whether a message whose header's (last) Content-Type is
// contentType may hold a report, as Message decides before it reads the
// body: a receiver that read the header as the message was stored
// (queue.Message.HeaderSeen) need not open it again for the rest, most
// mail.
func (in *Intake) MayHold(contentType string) bool {
	_, _, ok := mayHold(contentType)
	return ok && in.Mode != "off"
}

// mayHold parses the message's Content-Type: ok when walk may find a
// report under it (a multipart with a boundary, or a report's own type).
func mayHold(ct string) (mt string, params map[string]string, ok bool) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil, false
	}
	if strings.HasPrefix(mt, "multipart/") {
		return mt, params, params["boundary"] != ""
	}
	return mt, params, reportKind(mt, params["name"]) != ""
}

func (in *Intake) log() *slog.Logger {
	if in.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Log
}

// walk visits the parts that may hold a report: every leaf of multipart
// parts, two levels deep at most.
func (in *Intake) walk(ctx context.Context, mt string, params map[string]string, disp, cte string, r io.Reader, depth int, visit func(kind string, r io.Reader, name string)) {
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= 2 || params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(r, params["boundary"])
		for i := 0; i < maxParts; i++ {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			pmt, pparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil {
				pmt, pparams = "text/plain", nil
			}
			in.walk(ctx, pmt, pparams, p.Header.Get("Content-Disposition"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1, visit)
		}
		return
	}
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(disp); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	kind := reportKind(mt, name)
	if kind == "" {
		return
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // it skips line ends itself
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	visit(kind, r, name)
}

// reportKind says which report a part holds, by its media type or, for
// the generic ones, its file name.
func reportKind(mt, name string) string {
	name = strings.ToLower(name)
	switch mt {
	case "application/tlsrpt+gzip", "application/tlsrpt+json":
		return KindTLS
	case "application/gzip", "application/x-gzip", "application/zip", "application/x-zip", "application/x-zip-compressed",
		"text/xml", "application/xml", "application/octet-stream":
		switch {
		case strings.HasSuffix(name, ".json.gz") || strings.HasSuffix(name, ".json"):
			return KindTLS
		case strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".xml.gz") || strings.HasSuffix(name, ".zip") ||
			strings.HasSuffix(name, ".gz") || mt == "text/xml" || mt == "application/xml":
			return KindDMARC
		}
	}
	return ""
}

// parse reads one report part.
func (in *Intake) parse(kind string, r io.Reader, name string) *Received {
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	max := in.Max
	if max <= 0 {
		max = 10 << 20
	}
	switch kind {
	case KindTLS:
		rep, err := tlsrpt.Parse(io.LimitReader(r, max+1))
		if err != nil {
			in.Metrics.receivedReport(kind, "unreadable")
			in.log().Warn("reports: a TLS report that cannot be read", "file", name, "err", err)
			return nil
		}
		domain := ""
		if len(rep.Policies) > 0 {
			domain = strings.ToLower(rep.Policies[0].Policy.Domain)
		}
		return &Received{Kind: kind, Reporter: rep.OrganizationName, ReportID: rep.ReportID, Domain: domain,
			Begin: rep.DateRange.Start, End: rep.DateRange.End, At: now, TLS: rep}
	default:
		f, err := dmarcrpt.Parse(r, max)
		if err != nil {
			in.Metrics.receivedReport(kind, "unreadable")
			in.log().Warn("reports: a DMARC report that cannot be read", "file", name, "err", err)
			return nil
		}
		return &Received{Kind: kind, Reporter: f.Metadata.OrgName, ReportID: f.Metadata.ReportID, Domain: strings.ToLower(f.Policy.Domain),
			Begin: time.Unix(f.Metadata.DateRange.Begin, 0).UTC(), End: time.Unix(f.Metadata.DateRange.End, 0).UTC(), At: now, DMARC: f}
	}
}

// keep stores a report unless reports.receive or its domain says not to.
func (in *Intake) keep(ctx context.Context, r *Received) bool {
	log := in.log().With("kind", r.Kind, "reporter", r.Reporter, "report_id", r.ReportID, "domain", r.Domain, "queue_id", r.QueueID)
	if in.Mode != "all" && !r.Authenticated {
		in.Metrics.receivedReport(r.Kind, "unauthenticated")
		log.Warn("reports: report not kept: its message did not pass DMARC here (reports.receive = authenticated)", "setting", "reports.receive")
		return false
	}
	if in.Hosted != nil && !in.Hosted(ctx, r.Domain) {
		in.Metrics.receivedReport(r.Kind, "unreadable")
		log.Warn("reports: report not kept: it is about a domain not hosted here")
		return false
	}
	fresh, err := in.Store.AddReceived(ctx, *r)
	if err != nil {
		log.Error("reports: cannot keep a report", "err", err)
		return false
	}
	if !fresh {
		in.Metrics.receivedReport(r.Kind, "duplicate")
		log.Info("reports: report received again, kept once")
		return false
	}
	in.Metrics.receivedReport(r.Kind, "stored")
	log.Info("reports: report received", "authenticated", r.Authenticated, "auth_domain", r.AuthDomain,
		"begin", r.Begin.Format(time.RFC3339), "end", r.End.Format(time.RFC3339))
	return true
}

// authenticated reads our own Authentication-Results field in the prefix
// (the checks wrote it; forged ones were removed): whether DMARC passed,
// and for which From: domain.
func (in *Intake) authenticated(prefix string) (bool, string) {
	sc := mailhdr.NewScanner(bufio.NewReader(strings.NewReader(prefix + "\r\n")))
	for sc.Scan() {
		f := sc.Field()
		if !f.Is("Authentication-Results") || arfield.AuthservID(f.RawValue()) != strings.ToLower(in.AuthservID) {
			continue
		}
		_, results, err := authres.Parse(f.Value())
		if err != nil {
			continue
		}
		for _, r := range results {
			if d, ok := r.(*authres.DMARCResult); ok && d.Value == authres.ResultPass {
				return true, strings.ToLower(d.From)
			}
		}
	}
	return false, ""
}
