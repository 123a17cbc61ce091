package msgauth

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/test/harness"
)

// reportHTTPS is an HTTPS server on loopback taking rua=https: TLS
// reports, with a certificate for name signed by a CA of the test's own.
type reportHTTPS struct {
	URL, CAFile string
	mu          sync.Mutex
	posts       [][]byte
	ctypes      []string
}

func startReportHTTPS(t *testing.T, ip, name, dir string) *reportHTTPS {
	t.Helper()
	ca := servetest.NewCA(t)
	s := &reportHTTPS{CAFile: filepath.Join(dir, "report-ca.pem")}
	os.WriteFile(s.CAFile, ca.PEM, 0o644)
	l, err := tls.Listen("tcp", ip+":0", &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, name)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, b)
		s.ctypes = append(s.ctypes, r.Method+" "+r.Header.Get("Content-Type"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s.URL = fmt.Sprintf("https://%s:%s/tlsrpt", name, port)
	return s
}

// reportAttachment is the attachment of a report message as it arrived
// in a Maildir file: its media type, file name and bytes.
func reportAttachment(t *testing.T, msg string) (string, string, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("%v:\n%s", err, msg)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no attachment in:\n%s", msg)
		}
		if _, dp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition")); dp["filename"] != "" {
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
			return p.Header.Get("Content-Type"), dp["filename"], b
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkTLSRPTSchema validates a TLS report with python3-jsonschema
// against RFC 8460's fields, strictly (no unknown field, every required
// one, the result and policy types, date-times).
func checkTLSRPTSchema(t *testing.T, report []byte) {
	t.Helper()
	harness.Install(t, "python3-jsonschema")
	f := filepath.Join(t.TempDir(), "report.json")
	os.WriteFile(f, report, 0o644)
	schema := filepath.Join(harness.RepoRoot(), "internal", "tlsrpt", "testdata", "rfc8460.schema.json")
	py := `import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
errs = list(v.iter_errors(doc))
for e in errs:
    print(list(e.path), e.message)
sys.exit(1 if errs else 0)
`
	r := harness.Run(t, exec.Command("python3", "-c", py, schema, f), nil)
	if r.Code != 0 {
		t.Errorf("the TLS report fails RFC 8460's schema:\n%s%s\n%s", r.Stdout, r.Stderr, report)
	}
}

// Two instances send each other mail; the first also refuses a message
// forged as the second. Its daily reports, sent with ebb report send
// --day today, reach the second's rua mailboxes through its queue (signed,
// passing DMARC there) and an HTTPS rua: the TLS report passes RFC 8460's
// schema (python3-jsonschema) and the DMARC report reads with dmarc-cat;
// an external rua without authorisation (RFC 7489 §7.1) gets nothing. The
// second keeps both and summarises them (ebb tlsrpt report, ebb dmarc
// report, doctor).
func TestReportsBetweenTwoInstances(t *testing.T) {
	harness.Install(t, "dmarc-cat", "python3-jsonschema")
	T := harness.Dir(t)
	web := startReportHTTPS(t, "127.0.0.9", "tlsrpt.test", T)
	extra := fmt.Sprintf("[reports]\nca_file = %q\n", web.CAFile)
	p := harness.NewPair(t, harness.PairOpts{Records: []string{"tlsrpt.test. A 127.0.0.9",
		// The relay's connections and swaks come from loopback addresses.
		`one.example. TXT "v=spf1 ip4:127.0.0.0/8 -all"`, `two.example. TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.one.example. TXT "v=DMARC1; p=none; rua=mailto:dmarc@one.example"`,
		`_dmarc.two.example. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@two.example,mailto:agg@elsewhere.test"`,
		`_smtp._tls.two.example. TXT "v=TLSRPTv1; rua=mailto:tls@two.example,` + web.URL + `"`},
		One: harness.OutOpts{Users: []string{"alice", "postmaster"}, Extra: extra},
		Two: harness.OutOpts{Users: []string{"bob", "tls", "dmarc"}, Extra: extra}})
	one, two, dns := p.One, p.Two, p.DNS
	dkimKeygen(t, dns, one.Conf, "one.example", "s1", "ed25519")
	dkimKeygen(t, dns, two.Conf, "two.example", "s1", "ed25519")

	one.Submit("alice@one.example", "bob@two.example", "hello two")
	two.WaitMail("bob", 1, 20*time.Second)
	two.Submit("bob@two.example", "alice@one.example", "hello one")
	one.WaitMail("alice", 1, 20*time.Second)
	// Forged as two.example from another address: DMARC p=reject refuses it.
	r := harness.RunSwaks(t, "--server", one.SMTP, "--local-interface", "127.0.0.4", "--from", "x@spoof.test", "--to", "alice@one.example",
		"--header", "From: Bob <bob@two.example>", "--header", "Subject: forged", "--timeout", "20")
	if !strings.Contains(r.Stdout, "550 5.7.1") {
		t.Fatalf("the forged message was not refused:\n%s", r.Stdout)
	}

	// The daemon's recorder writes within a second; ebb report status
	// shows what is recorded today.
	waitOut(t, 20*time.Second, filepath.Join(one.Dir, "data"), func() string {
		return harness.Run(t, exec.Command(harness.Ebb(t), "report", "status", "-c", one.Conf), nil).Stdout
	}, "  tls   two.example=1\n", "  dmarc two.example=2\n")
	out := harness.Run(t, exec.Command(harness.Ebb(t), "report", "send", "--day", "today", "-c", one.Conf), nil)
	for _, want := range []string{
		"tls   two.example", "sent    to mailto:tls@two.example (queued as", web.URL + " (201 Created)",
		"dmarc two.example", "to mailto:dmarc@two.example (queued as",
		"not to mailto:agg@elsewhere.test: elsewhere.test is outside two.example's organisation and does not take its reports (no v=DMARC1 record at two.example._report._dmarc.elsewhere.test, RFC 7489 §7.1)",
	} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("report send lacks %q:\n%s%s\nlog:\n%s", want, out.Stdout, out.Stderr, harness.Tail(one.Log(), 20))
		}
	}

	// The HTTPS rua got the gzipped report.
	web.mu.Lock()
	if len(web.posts) != 1 || web.ctypes[0] != "POST application/tlsrpt+gzip" {
		t.Fatalf("posts %d %v", len(web.posts), web.ctypes)
	}
	posted := gunzip(t, web.posts[0])
	web.mu.Unlock()
	checkTLSRPTSchema(t, posted)
	for _, want := range []string{`"organization-name":"one.example"`, `"policy-type":"no-policy-found"`, `"policy-domain":"two.example"`,
		`"total-successful-session-count":1`} {
		if !strings.Contains(string(posted), want) {
			t.Errorf("report lacks %s:\n%s", want, posted)
		}
	}

	// The mailed reports reach two's mailboxes, signed and passing DMARC.
	tlsMsg := two.WaitMail("tls", 1, 30*time.Second)[0]
	dmarcMsg := two.WaitMail("dmarc", 1, 30*time.Second)[0]
	for _, m := range []string{tlsMsg, dmarcMsg} {
		if !strings.Contains(m, "dkim=pass") || !strings.Contains(m, "dmarc=pass header.from=one.example") ||
			!strings.Contains(m, "Subject: Report Domain: two.example Submitter: mx.one.example Report-ID: <") {
			t.Errorf("report message:\n%s", m)
		}
	}
	if !strings.Contains(tlsMsg, "TLS-Report-Domain: two.example") || !strings.Contains(tlsMsg, `report-type="tlsrpt"`) {
		t.Errorf("TLS report message:\n%s", tlsMsg)
	}
	ct, name, gz := reportAttachment(t, tlsMsg)
	if ct != "application/tlsrpt+gzip" || !strings.HasPrefix(name, "mx.one.example!two.example!") || !strings.HasSuffix(name, ".json.gz") {
		t.Errorf("TLS attachment %q %q", ct, name)
	}
	checkTLSRPTSchema(t, gunzip(t, gz))

	// dmarc-cat, an outside decoder, reads the DMARC report.
	ct, name, gz = reportAttachment(t, dmarcMsg)
	if ct != "application/gzip" || !strings.HasSuffix(name, ".xml.gz") {
		t.Errorf("DMARC attachment %q %q", ct, name)
	}
	file := filepath.Join(T, name)
	os.WriteFile(file, gz, 0o644)
	dc := harness.Run(t, exec.Command("dmarc-cat", "-N", file), nil)
	for _, want := range []string{"one.example", "two.example", "127.0.0.4", "reject", "127.0.0.1"} {
		if dc.Code != 0 || !strings.Contains(dc.Stdout, want) {
			t.Errorf("dmarc-cat (exit %d) lacks %q:\n%s%s", dc.Code, want, dc.Stdout, dc.Stderr)
		}
	}
	t.Logf("dmarc-cat:\n%s", dc.Stdout)

	// two kept both, and says what they say.
	waitCmd := func(want string, args ...string) string {
		t.Helper()
		return waitOut(t, 20*time.Second, filepath.Join(two.Dir, "data"), func() string {
			return harness.Run(t, exec.Command(harness.Ebb(t), args...), nil).Stdout
		}, want)
	}
	tr := waitCmd("TLS reports about two.example: 1 from one.example", "tlsrpt", "report", "-c", two.Conf, "two.example")
	if !strings.Contains(tr, "1 sessions succeeded, 0 failed") {
		t.Errorf("tlsrpt report:\n%s", tr)
	}
	dr := waitCmd("DMARC aggregate reports about two.example: 1 from one.example", "dmarc", "report", "-c", two.Conf, "two.example")
	for _, want := range []string{"2 messages sent as two.example: 1 pass (50%), 1 fail; policy p=reject", "127.0.0.4", "reject=1",
		"1 sources send mail as two.example that fails DMARC"} {
		if !strings.Contains(dr, want) {
			t.Errorf("dmarc report lacks %q:\n%s", want, dr)
		}
	}
	st := harness.Run(t, exec.Command(harness.Ebb(t), "report", "status", "-c", one.Conf), nil).Stdout
	if !strings.Contains(st, "tls   two.example") || !strings.Contains(st, "dmarc two.example") {
		t.Errorf("report status:\n%s", st)
	}
	doc := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", two.Conf), nil).Stdout
	for _, want := range []string{"TLS reports from one.example: all 1 sessions succeeded", "DMARC reports from one.example: 2 messages as two.example, 1 pass, 1 fail"} {
		if !strings.Contains(doc, want) {
			t.Errorf("doctor lacks %q:\n%s", want, doc)
		}
	}
	// Sent once: a second run finds nothing due for today again.
	again := harness.Run(t, exec.Command(harness.Ebb(t), "report", "send", "--day", "today", "-c", one.Conf), nil)
	if strings.Contains(again.Stdout, "two.example") {
		t.Errorf("sent twice:\n%s", again.Stdout)
	}
}

// waitOut runs get until its output holds every one of want, again
// whenever a file in dir (an instance's data directory: its reports
// store) changes.
func waitOut(t *testing.T, within time.Duration, dir string, get func() string, want ...string) string {
	t.Helper()
	var out string
	if !harness.WaitOn(within, func() bool {
		out = get()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	}, dir) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
	return out
}

// A DMARC aggregate report made by an outside implementation
// (Mail::DMARC, Debian's libmail-dmarc-perl: its aggregate report and its
// own message around it) arrives by SMTP; ebb keeps it and summarises it.
func TestDMARCReportFromMailDMARC(t *testing.T) {
	harness.Install(t, "libmail-dmarc-perl")
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.3")
	dns.MustAdd("two.example. MX 10 mx.two.example.", "mx.two.example. A 127.0.0.3",
		`reporter.test. TXT "v=spf1 ip4:127.0.0.0/8 -all"`, `_dmarc.reporter.test. TXT "v=DMARC1; p=none"`)
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"dmarc"}})
	T := harness.Dir(t)
	ini := filepath.Join(T, "mail-dmarc.ini")
	os.WriteFile(ini, []byte("[organization]\ndomain = reporter.test\norg_name = Mail-DMARC Reporter\nemail = dmarc-reports@reporter.test\nextra_contact_info = http://reporter.test/\n"), 0o644)
	script := filepath.Join(T, "report.pl")
	os.WriteFile(script, []byte(mailDMARCScript), 0o644)
	cmd := exec.Command("perl", script)
	cmd.Env = append(os.Environ(), "MAIL_DMARC_CONFIG_FILE="+ini)
	gen := harness.Run(t, cmd, nil)
	if gen.Code != 0 {
		t.Fatalf("Mail::DMARC: %s", gen.Stderr)
	}
	msg := filepath.Join(T, "report.eml")
	os.WriteFile(msg, []byte(gen.Stdout), 0o644)
	r := harness.RunSwaks(t, "--server", two.SMTP, "--from", "dmarc-reports@reporter.test", "--to", "dmarc@two.example", "--data", msg, "--timeout", "20")
	if r.Code != 0 {
		t.Fatalf("swaks: %s", r.Stdout)
	}
	two.WaitMail("dmarc", 1, 20*time.Second)
	out := waitOut(t, 20*time.Second, filepath.Join(two.Dir, "data"), func() string {
		return harness.Run(t, exec.Command(harness.Ebb(t), "dmarc", "report", "-c", two.Conf, "two.example"), nil).Stdout
	}, "Mail-DMARC Reporter")
	for _, want := range []string{"DMARC aggregate reports about two.example: 1 from Mail-DMARC Reporter",
		"15 messages sent as two.example: 12 pass (80%), 3 fail; policy p=reject",
		"198.51.100.25", "203.0.113.66", "reject=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("dmarc report lacks %q:\n%s\nlog:\n%s", want, out, harness.Tail(two.Log(), 20))
		}
	}
	if strings.Contains(out, "may be forged") {
		t.Errorf("the report's message passed DMARC, yet:\n%s", out)
	}
}

// mailDMARCScript makes an aggregate report about two.example with
// Mail::DMARC's own classes and wraps it in the message Mail::DMARC
// sends (Send::SMTP's assemble_message_object).
const mailDMARCScript = `use strict; use warnings;
use Mail::DMARC::Report;
use Mail::DMARC::Report::Aggregate;
use Mail::DMARC::Report::Aggregate::Record;
use Mail::DMARC::Report::Send::SMTP;
use Mail::DMARC::Policy;
my $agg = Mail::DMARC::Report::Aggregate->new;
my $m = $agg->metadata;
$m->org_name('Mail-DMARC Reporter'); $m->email('dmarc-reports@reporter.test'); $m->report_id('md-1');
$m->begin(time - 86400); $m->end(time);
my $pol = Mail::DMARC::Policy->new('v=DMARC1; p=reject; pct=100');
$pol->domain('two.example');
$agg->policy_published($pol);
for my $r (['198.51.100.25', 12, 'pass', 'pass', 'none'], ['203.0.113.66', 3, 'fail', 'fail', 'reject']) {
  $agg->record(Mail::DMARC::Report::Aggregate::Record->new(
    identifiers => { header_from => 'two.example', envelope_from => 'two.example', envelope_to => 'reporter.test' },
    auth_results => { spf => [{domain => 'two.example', scope => 'mfrom', result => $r->[3]}],
                      dkim => [{domain => 'two.example', selector => 's1', result => $r->[2]}] },
    row => { source_ip => $r->[0], count => $r->[1], policy_evaluated => { disposition => $r->[4], dkim => $r->[2], spf => $r->[3] } },
  ));
}
my $xml = $agg->as_xml;
my $gz = Mail::DMARC::Report->new->compress(\$xml);
print Mail::DMARC::Report::Send::SMTP->new->assemble_message_object(\$agg, 'dmarc@two.example', $gz)->as_string;
`
