package reports

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/tlsrpt"
	dto "github.com/prometheus/client_model/go"
)

func testStore(t *testing.T) Store {
	t.Helper()
	st, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "sub", "reports.db"), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "ebb.toml"), []byte("[server]\nhostname = \"mx.ours.test\"\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// txtTable is a TXT resolver from a map; a missing name is NXDOMAIN.
type txtTable map[string][]string

func (t txtTable) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := t[strings.TrimSuffix(name, ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

type outbox struct {
	mu   sync.Mutex
	sent []sentMail
}

type sentMail struct {
	From string
	To   []string
	Msg  []byte
}

func (o *outbox) Submit(_ context.Context, from string, to []string, msg []byte) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, sentMail{from, to, msg})
	return fmt.Sprintf("Q%d", len(o.sent)), nil
}

// attachment is the base64 attachment of a report message, decoded.
func attachment(t *testing.T, msg []byte) (ct, name string, data []byte) {
	t.Helper()
	s := string(msg)
	i := strings.Index(s, "boundary=\"")
	if i < 0 {
		t.Fatalf("no boundary:\n%s", s)
	}
	b := s[i+10:]
	b = b[:strings.IndexByte(b, '"')]
	body := s[strings.Index(s, "\r\n\r\n")+4:]
	mr := multipart.NewReader(strings.NewReader(body), b)
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no attachment: %v\n%s", err, s)
		}
		if strings.HasPrefix(p.Header.Get("Content-Disposition"), "attachment") {
			_, dp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			d, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
			return p.Header.Get("Content-Type"), dp["filename"], d
		}
	}
}

const day = "2025-06-01"

var dayStart = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// TLS records of one day make one report per domain, sent once the day
// is over plus reports.send_after, to every rua (mailto: queued with the
// headers RFC 8460 §5.3 asks, https: posted as application/tlsrpt+gzip),
// and never twice.
func TestSendTLSReports(t *testing.T) {
	var posted [][]byte
	var ctype string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted = append(posted, b)
		ctype = r.Header.Get("Content-Type")
		w.WriteHeader(201)
	}))
	defer srv.Close()
	st := testStore(t)
	ctx := context.Background()
	dane := []string{"3 1 1 abcd"}
	err := st.AddTLS(ctx, []TLSRecord{
		{Day: day, Domain: "example.net", PolicyType: "tlsa", PolicyStrings: dane, MXHost: []string{"mx.example.net"}, Count: 3},
		{Day: day, Domain: "example.net", PolicyType: "tlsa", PolicyStrings: dane, MXHost: []string{"mx.example.net"}, Count: 2},
		{Day: day, Domain: "example.net", PolicyType: "tlsa", PolicyStrings: dane, MXHost: []string{"mx.example.net"}, Result: "tlsa-invalid",
			SendingIP: "192.0.2.1", ReceivingHost: "mx.example.net", ReceivingIP: "198.51.100.7", Detail: "no TLSA record matches", Count: 1},
		{Day: day, Domain: "example.net", PolicyType: "no-policy-found", Result: "starttls-not-supported", ReceivingHost: "mx2.example.net", Count: 4},
		{Day: day, Domain: "norecord.test", PolicyType: "no-policy-found", Count: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ob := &outbox{}
	now := dayStart.Add(24*time.Hour + 30*time.Minute)
	s := &Sender{Store: st, Cfg: testConfig(t, ""), Outbox: ob, HTTP: srv.Client(), Now: func() time.Time { return now },
		TXT: txtTable{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=mailto:tls@example.net," + srv.URL + "/tlsrpt"}}}
	if sent, err := s.SendDue(ctx); err != nil || len(sent) != 0 {
		t.Fatalf("sent before send_after: %+v %v", sent, err)
	}
	now = now.Add(time.Hour)
	sent, err := s.SendDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, x := range sent {
		states[x.Domain] = x.State + ": " + x.Detail
	}
	if !strings.HasPrefix(states["example.net"], "sent: to mailto:tls@example.net (queued as Q1), "+srv.URL+"/tlsrpt (201 Created)") ||
		states["norecord.test"] != "skipped: no TLSRPT record at _smtp._tls.norecord.test" {
		t.Errorf("states %v", states)
	}
	if again, _ := s.SendDue(ctx); len(again) != 0 {
		t.Errorf("sent twice: %+v", again)
	}
	if len(ob.sent) != 1 || len(posted) != 1 || ctype != "application/tlsrpt+gzip" {
		t.Fatalf("mails %d posts %d %q", len(ob.sent), len(posted), ctype)
	}
	m := ob.sent[0]
	msg := string(m.Msg)
	for _, want := range []string{
		"From: postmaster@ours.test\r\n", "To: tls@example.net\r\n",
		"Subject: Report Domain: example.net Submitter: mx.ours.test Report-ID: <2025-06-01_example.net@mx.ours.test>\r\n",
		"TLS-Report-Domain: example.net\r\n", "TLS-Report-Submitter: mx.ours.test\r\n",
		"Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	ct, name, data := attachment(t, m.Msg)
	if ct != "application/tlsrpt+gzip" || name != "mx.ours.test!example.net!1748736000!1748822399.json.gz" || !bytes.Equal(data, posted[0]) {
		t.Errorf("attachment %q %q", ct, name)
	}
	rep, err := tlsrpt.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrganizationName != "ours.test" || rep.ContactInfo != "postmaster@ours.test" || !rep.DateRange.Start.Equal(dayStart) || len(rep.Policies) != 2 {
		t.Fatalf("report %+v", rep)
	}
	p := rep.Policies[1]
	if p.Policy.Type != "tlsa" || p.Policy.Domain != "example.net" || p.Summary.Success != 5 || p.Summary.Failure != 1 ||
		len(p.FailureDetails) != 1 || p.FailureDetails[0].ResultType != "tlsa-invalid" || p.FailureDetails[0].ReceivingIP != "198.51.100.7" {
		t.Errorf("tlsa policy %+v", p)
	}
	if p := rep.Policies[0]; p.Policy.Type != "no-policy-found" || p.Summary.Failure != 4 || p.FailureDetails[0].FailedSessionCount != 4 {
		t.Errorf("no-policy %+v", p)
	}
	log, _ := st.SentSince(ctx, dayStart)
	if len(log) != 2 {
		t.Errorf("sent log %+v", log)
	}
	// --again sends one that was sent.
	if again, _ := s.SendDay(ctx, day, true); len(again) != 2 || len(ob.sent) != 2 {
		t.Errorf("forced: %+v", again)
	}
}

// A temporary failure (DNS, an HTTPS server answering 503) is retried an
// hour later; a permanent one is not.
func TestTLSReportRetry(t *testing.T) {
	code := 503
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()
	st := testStore(t)
	ctx := context.Background()
	st.AddTLS(ctx, []TLSRecord{{Day: day, Domain: "example.net", PolicyType: "no-policy-found", Count: 1}})
	now := dayStart.Add(48 * time.Hour)
	s := &Sender{Store: st, Cfg: testConfig(t, ""), Outbox: &outbox{}, HTTP: srv.Client(), Now: func() time.Time { return now },
		TXT: txtTable{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=" + srv.URL}}}
	sent, _ := s.SendDue(ctx)
	if len(sent) != 1 || sent[0].State != StateRetry || !strings.Contains(sent[0].Detail, "503") {
		t.Fatalf("%+v", sent)
	}
	if again, _ := s.SendDue(ctx); len(again) != 0 {
		t.Errorf("retried at once: %+v", again)
	}
	now = now.Add(61 * time.Minute)
	code = 200
	if again, _ := s.SendDue(ctx); len(again) != 1 || again[0].State != StateSent {
		t.Errorf("retry: %+v", again)
	}
}

// DMARC reports go to every rua of the domain's record: in its own
// organisation at once, elsewhere only when the destination authorises it
// (RFC 7489 §7.1), within its size limit.
func TestSendDMARCReports(t *testing.T) {
	st := testStore(t)
	ctx := context.Background()
	rec := func(ip, disp string, dkim, spf string, n int64, rua ...string) DMARCRecord {
		return DMARCRecord{Day: day, Domain: "example.org", RUA: rua, Count: n,
			Published: dmarcrpt.PolicyPublished{Domain: "example.org", ADKIM: "r", ASPF: "r", P: "reject", Pct: 100},
			Row: dmarcrpt.Record{Row: dmarcrpt.Row{SourceIP: ip, PolicyEvaluated: dmarcrpt.PolicyEvaluated{Disposition: disp, DKIM: dkim, SPF: spf}},
				Identifiers: dmarcrpt.Identifiers{HeaderFrom: "example.org", EnvelopeFrom: "example.org", EnvelopeTo: "ours.test"},
				AuthResults: dmarcrpt.AuthResults{SPF: []dmarcrpt.SPFResult{{Domain: "example.org", Scope: "mfrom", Result: spf}}}}}
	}
	rua := []string{"mailto:dmarc@example.org", "mailto:agg@reports.example.com", "mailto:other@unauthorised.test", "mailto:small@example.org!10", "https://x.test/"}
	if err := st.AddDMARC(ctx, []DMARCRecord{
		rec("192.0.2.1", "none", "pass", "pass", 5, rua...), rec("192.0.2.1", "none", "pass", "pass", 2, rua...),
		rec("203.0.113.9", "reject", "fail", "fail", 3, rua...),
	}); err != nil {
		t.Fatal(err)
	}
	ob := &outbox{}
	s := &Sender{Store: st, Cfg: testConfig(t, ""), Outbox: ob, Now: func() time.Time { return dayStart.Add(30 * time.Hour) },
		TXT: txtTable{"example.org._report._dmarc.reports.example.com": {"v=DMARC1"}}}
	sent, err := s.SendDue(ctx)
	if err != nil || len(sent) != 1 {
		t.Fatalf("%+v %v", sent, err)
	}
	x := sent[0]
	for _, want := range []string{"sent: to mailto:dmarc@example.org (queued as Q1), mailto:agg@reports.example.com (queued as Q2)",
		"https://x.test/ (not mailto:)",
		"unauthorised.test is outside example.org's organisation and does not take its reports (no v=DMARC1 record at example.org._report._dmarc.unauthorised.test, RFC 7489 §7.1)",
		"mailto:small@example.org: the report is"} {
		if !strings.Contains(x.State+": "+x.Detail, want) {
			t.Errorf("lacks %q: %s: %s", want, x.State, x.Detail)
		}
	}
	if len(ob.sent) != 2 {
		t.Fatalf("%d mails", len(ob.sent))
	}
	msg := string(ob.sent[0].Msg)
	if !strings.Contains(msg, "Subject: Report Domain: example.org Submitter: mx.ours.test Report-ID: <2025-06-01_example.org@mx.ours.test>\r\n") {
		t.Errorf("subject:\n%s", msg)
	}
	ct, name, data := attachment(t, ob.sent[0].Msg)
	if ct != "application/gzip" || name != "mx.ours.test!example.org!1748736000!1748822399.xml.gz" {
		t.Errorf("attachment %q %q", ct, name)
	}
	f, err := dmarcrpt.Parse(bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if f.Messages() != 10 || len(f.Records) != 2 || f.Policy.P != "reject" || f.Metadata.DateRange.Begin != 1748736000 ||
		f.Metadata.Email != "postmaster@ours.test" {
		t.Errorf("feedback %+v", f)
	}
}

// reportMessage is a delivered message holding one report, as a reporter
// sends it.
func reportMessage(t *testing.T, ct, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "msg")
	m := reportMail{From: "noreply@reporter.test", To: "rua@ours.test", Subject: "Report", MediaType: "multipart/mixed", Text: "a report",
		AttachCT: ct, FileName: name, Data: data, Host: "reporter.test", Date: time.Now()}
	if err := os.WriteFile(p, m.bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const passAR = "Authentication-Results: mx.ours.test;\r\n\tspf=pass smtp.mailfrom=reporter.test;\r\n\tdmarc=pass header.from=reporter.test\r\n"

// Reports arriving for the hosted domains are read from their message
// (TLS: application/tlsrpt+gzip; DMARC: XML in gzip or zip), kept once,
// and only when the message passed DMARC here unless reports.receive =
// all.
func TestIntake(t *testing.T) {
	st := testStore(t)
	ctx := context.Background()
	tr := &tlsrpt.Report{OrganizationName: "Reporter Inc", ReportID: "r-1", ContactInfo: "x@reporter.test",
		DateRange: tlsrpt.DateRange{Start: dayStart, End: dayStart.Add(24*time.Hour - time.Second)},
		Policies: []tlsrpt.Policy{{Policy: tlsrpt.PolicyDesc{Type: "sts", Domain: "ours.test"}, Summary: tlsrpt.Summary{Success: 9, Failure: 1},
			FailureDetails: []tlsrpt.FailureDetail{{ResultType: "certificate-expired", ReceivingMXHostname: "mx.ours.test", FailedSessionCount: 1}}}}}
	gz, _ := tr.Gzip()
	tlsMsg := reportMessage(t, "application/tlsrpt+gzip", "reporter.test!ours.test!1!2.json.gz", gz)
	in := &Intake{Store: st, AuthservID: "mx.ours.test", Mode: "authenticated",
		Hosted: func(_ context.Context, d string) bool { return d == "ours.test" }}
	open := func(p string) io.Reader {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if got := mustMessage(t, ctx, in, "Q1", "", open(tlsMsg)); len(got) != 0 {
		t.Errorf("kept without authentication: %+v", got)
	}
	got := mustMessage(t, ctx, in, "Q1", passAR, open(tlsMsg))
	if len(got) != 1 || got[0].Kind != KindTLS || got[0].Domain != "ours.test" || !got[0].Authenticated || got[0].AuthDomain != "reporter.test" {
		t.Fatalf("tls %+v", got)
	}
	if again := mustMessage(t, ctx, in, "Q2", passAR, open(tlsMsg)); len(again) != 0 {
		t.Errorf("kept twice")
	}
	f := &dmarcrpt.Feedback{Metadata: dmarcrpt.ReportMetadata{OrgName: "google.com", ReportID: "g-1", Email: "noreply@google.com",
		DateRange: dmarcrpt.DateRange{Begin: dayStart.Unix(), End: dayStart.Unix() + 86399}},
		Policy: dmarcrpt.PolicyPublished{Domain: "ours.test", P: "none", Pct: 100},
		Records: []dmarcrpt.Record{{Row: dmarcrpt.Row{SourceIP: "192.0.2.1", Count: 4, PolicyEvaluated: dmarcrpt.PolicyEvaluated{Disposition: "none", DKIM: "pass", SPF: "fail"}},
			Identifiers: dmarcrpt.Identifiers{HeaderFrom: "ours.test"}},
			{Row: dmarcrpt.Row{SourceIP: "203.0.113.5", Count: 2, PolicyEvaluated: dmarcrpt.PolicyEvaluated{Disposition: "none", DKIM: "fail", SPF: "fail"}},
				Identifiers: dmarcrpt.Identifiers{HeaderFrom: "ours.test"}}}}
	x, _ := f.XML()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("google.com!ours.test!1!2.xml")
	w.Write(x)
	zw.Close()
	dmarcMsg := reportMessage(t, "application/zip", "google.com!ours.test!1!2.zip", zb.Bytes())
	in.Mode = "all"
	got = mustMessage(t, ctx, in, "Q3", "", open(dmarcMsg))
	if len(got) != 1 || got[0].Kind != KindDMARC || got[0].Authenticated || got[0].DMARC.Messages() != 6 {
		t.Fatalf("dmarc %+v", got)
	}
	// Not a report: nothing, and no error.
	plain := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(plain, []byte("From: a@b.test\r\nSubject: hi\r\n\r\nhello\r\n"), 0o600)
	if got := mustMessage(t, ctx, in, "Q4", passAR, open(plain)); len(got) != 0 {
		t.Errorf("plain: %+v", got)
	}

	rs, err := st.ReceivedFor(ctx, KindDMARC, "ours.test", dayStart.Add(-time.Hour))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%+v %v", rs, err)
	}
	sum := SummariseDMARC("ours.test", dayStart, rs)
	if sum.Messages != 6 || sum.Pass != 4 || sum.Fail != 2 || len(sum.Sources) != 2 || sum.Sources[0].IP != "192.0.2.1" || sum.Unauth != 1 {
		t.Errorf("summary %+v", sum)
	}
	var b bytes.Buffer
	WriteDMARC(&b, sum)
	for _, want := range []string{"6 messages sent as ours.test: 4 pass (67%), 2 fail; policy p=none", "203.0.113.5", "1 sources send mail as ours.test that fails DMARC", "may be forged"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	trs, _ := st.ReceivedFor(ctx, KindTLS, "ours.test", dayStart)
	ts := SummariseTLS("ours.test", dayStart, trs)
	if ts.Success != 9 || ts.Failure != 1 || len(ts.Failures) != 1 || ts.Failures[0].Result != "certificate-expired" {
		t.Errorf("tls summary %+v", ts)
	}
}

// The recorder writes what it is given in batches; Flush waits for them.
func TestRecorder(t *testing.T) {
	st := testStore(t)
	r := NewRecorder(st, nil, NewMetrics())
	for range 300 {
		r.TLS(TLSRecord{Day: day, Domain: "example.net", PolicyType: "no-policy-found", ReceivingIP: "192.0.2.1"})
	}
	r.TLS(TLSRecord{Day: day, Domain: "example.net", PolicyType: "no-policy-found", Result: "starttls-not-supported", ReceivingIP: "192.0.2.1"})
	r.Flush()
	r.Close()
	recs, err := st.TLSRecords(context.Background(), "example.net", day)
	if err != nil || len(recs) != 2 || recs[0].Count+recs[1].Count != 301 {
		t.Fatalf("%+v %v", recs, err)
	}
	for _, rec := range recs {
		if rec.Result == "" && rec.ReceivingIP != "" {
			t.Errorf("a success kept its address: %+v", rec)
		}
	}
}

// MayHold is Message's own first step: a message it says no to holds no
// report Message would find (so the daemon need not open it), and every
// report Message finds is under a Content-Type it says yes to.
func TestMayHoldIsMessagesFirstStep(t *testing.T) {
	ctx := context.Background()
	in := &Intake{Store: testStore(t), Mode: "all"}
	tr := &tlsrpt.Report{OrganizationName: "Reporter Inc", ReportID: "r-may", ContactInfo: "x@reporter.test",
		DateRange: tlsrpt.DateRange{Start: dayStart, End: dayStart.Add(24*time.Hour - time.Second)},
		Policies:  []tlsrpt.Policy{{Policy: tlsrpt.PolicyDesc{Type: "sts", Domain: "ours.test"}, Summary: tlsrpt.Summary{Success: 1}}}}
	gz, _ := tr.Gzip()
	whole := filepath.Join(t.TempDir(), "whole")
	os.WriteFile(whole, []byte("From: a@reporter.test\r\nContent-Type: text/plain\r\nContent-Type: application/tlsrpt+gzip\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n"+base64.StdEncoding.EncodeToString(gz)+"\r\n"), 0o600)
	tr.ReportID = "r-may-2" // a report is kept once
	gz2, _ := tr.Gzip()
	attached := reportMessage(t, "application/tlsrpt+gzip", "r.json.gz", gz2)
	text := func(hdr string) string {
		p := filepath.Join(t.TempDir(), "m")
		os.WriteFile(p, []byte("From: a@b.test\r\n"+hdr+"\r\n"+string(gz)+"\r\n--b--\r\n"), 0o600)
		return p
	}
	for _, c := range []struct {
		path  string
		found bool
	}{
		{whole, true}, {attached, true},
		{text(""), false},
		{text("Content-Type: text/plain\r\n"), false},
		{text("Content-Type: application/tlsrpt+gzip\r\nContent-Type: text/html\r\n"), false}, // the last one counts
		{text("Content-Type: multipart/mixed\r\n"), false},                                    // no boundary
		{text("Content-Type: ;;bad\r\n"), false},
	} {
		f, _ := os.Open(c.path)
		h, _ := mailhdr.Read(bufio.NewReader(f), 64<<10)
		f.Close()
		var ct string
		for _, fl := range h.Fields {
			if fl.Is("Content-Type") {
				ct = fl.Value()
			}
		}
		f, _ = os.Open(c.path)
		got := mustMessage(t, ctx, in, "Q", "", f)
		f.Close()
		if may := in.MayHold(ct); may != c.found || (len(got) == 1) != c.found {
			t.Errorf("Content-Type %q: MayHold %v, Message found %d; want %v", ct, may, len(got), c.found)
		}
	}
	in.Mode = "off"
	if in.MayHold("application/tlsrpt+gzip") {
		t.Error("reports.receive = off: MayHold said yes")
	}
}

// mustMessage is in.Message for a message that can be read.
func mustMessage(t *testing.T, ctx context.Context, in *Intake, id, prefix string, r io.Reader) []Received {
	t.Helper()
	got, err := in.Message(ctx, id, prefix, r)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return got
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("input/output error") }

// A message whose header cannot be read is said: the error is returned
// (the daemon notes it on the delivery's record), logged with the queue
// id and counted (ebb_reports_messages_unread_total).
func TestUnreadableMessageIsSaid(t *testing.T) {
	var logged strings.Builder
	m := NewMetrics()
	in := &Intake{Mode: "all", Metrics: m, Log: slog.New(slog.NewTextHandler(&logged, nil))}
	got, err := in.Message(context.Background(), "Q9", "", failingReader{})
	if len(got) != 0 || err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("Message: %v, %v; want the read error", got, err)
	}
	var mm dto.Metric
	m.unread.Write(&mm)
	if v := mm.GetCounter().GetValue(); v != 1 {
		t.Errorf("ebb_reports_messages_unread_total %v, want 1", v)
	}
	if l := logged.String(); !strings.Contains(l, "cannot read a delivered message") || !strings.Contains(l, "queue_id=Q9") || !strings.Contains(l, "input/output error") {
		t.Errorf("log %q", l)
	}
}
