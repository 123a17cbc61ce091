package daemon

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/queue"
)

type quotaDir map[string]*directory.Resolution

func (d quotaDir) Resolve(_ context.Context, a string) (*directory.Resolution, error) {
	return d[a], nil
}

func (d quotaDir) IsLocalDomain(_ context.Context, domain string) (bool, error) {
	return domain == "example.test", nil
}

// The end of DATA refuses a message larger than a local recipient's whole
// quota, counting what the delivery stores: the message with LF line
// ends and every line ebb puts above it (the Received line, the earlier
// checks' lines). The refusal is the delivery's own (552 5.2.2) and holds
// for the whole transaction; remote recipients and mailboxes without a
// byte quota are not measured.
func TestQuotaCheckerCountsWhatTheDeliveryStores(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	mb := func(a string, q int64) *directory.Resolution {
		return &directory.Resolution{Address: a, Mailboxes: []*directory.Mailbox{{Address: a, Enabled: true, QuotaBytes: q}}}
	}
	c := quotaChecker{cfg: cfg, dir: quotaDir{"alice@example.test": mb("alice@example.test", 1000), "bob@example.test": mb("bob@example.test", 0)}}
	file := filepath.Join(t.TempDir(), "data")
	// 800 bytes on the wire, fewer with LF line ends.
	data := "Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("y", 37)+"\r\n", 20)
	data += strings.Repeat("z", 800-len(data)-2) + "\r\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	// Both ways of measuring: the bound from the header and the data's
	// size (the copy measured where it is refused), and the copy measured
	// at once (no size known).
	for _, size := range []int64{int64(len(data)), 0} {
		checkQuotaOf(t, c, file, size)
	}
}

func checkQuotaOf(t *testing.T, c quotaChecker, file string, size int64) {
	t.Helper()
	cfg := c.cfg
	check := func(prefix, header string, rcpts ...string) error {
		in := &checkInput{Msg: &queue.Message{File: file, Size: size, Envelope: queue.Envelope{From: "s@example.org", Recipients: rcpts, Prefix: prefix}}}
		in.Header.WriteString(header)
		_, err := c.check(context.Background(), in)
		return err
	}
	received := "Received: from client.example.org by mx.example.test; Mon, 7 Dec 2026 20:00:00 +0000\r\n"
	if err := check(received, "", "alice@example.test"); err != nil {
		t.Fatalf("a message that fits alice's quota refused: %v", err)
	}
	verdicts := "X-Ebb-Scan: " + strings.Repeat("v", 200) + "\r\n"
	for _, rcpts := range [][]string{{"alice@example.test"}, {"bob@example.test", "carol@example.org", "alice@example.test"}} {
		err := check(received, verdicts, rcpts...)
		d, ok := diag.As(err)
		if !ok {
			t.Fatalf("%v: the checks' lines push the message past alice's 1000 bytes, not refused: %v", rcpts, err)
		}
		code, enh, text := d.SMTPReply()
		if code != 552 || enh != [3]int{5, 2, 2} || d.Temporary() || !strings.HasPrefix(text, "Message larger than the mailbox's quota") || strings.Contains(text, cfg.Mail.Root) {
			t.Errorf("%v: %d %v %q (%s)", rcpts, code, enh, text, d.Class)
		}
	}
	if err := check(received, verdicts, "bob@example.test", "carol@example.org"); err != nil {
		t.Errorf("bob has no quota, carol is remote: %v", err)
	}
}

// A mailbox whose Sieve script would discard or redirect the message
// stores nothing, so its quota refuses nothing (principle 4: only what
// would fail): the end of DATA runs the script as a dry run where a
// refusal is about to be made, and RCPT leaves the quota of a mailbox
// with a script to the end of DATA. A message the script keeps, and a
// mailbox without a script, are refused as before; nothing is left in
// server.data_dir, where the copy is staged for the script.
func TestQuotaRefusalFollowsTheSieveScript(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = t.TempDir()
	mb := func(a string) *directory.Resolution {
		return &directory.Resolution{Address: a, Mailboxes: []*directory.Mailbox{{Address: a, Enabled: true, QuotaBytes: 500}}}
	}
	dir := quotaDir{"alice@example.test": mb("alice@example.test"), "bob@example.test": mb("bob@example.test")}
	home := filepath.Join(cfg.Mail.Root, "example.test", "alice")
	os.MkdirAll(home, 0o700)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(`require ["fileinto"];
if header :is "subject" "junk" { discard; stop; }
if header :is "subject" "fwd" { redirect "alice@elsewhere.example"; stop; }
`), 0o600)
	lg, err := logging.New(io.Discard, "logfmt", "error")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, log: lg}
	c := quotaChecker{cfg: cfg, dir: dir, sieve: d.dryRunSieve()}
	check := func(subject, rcpt string) error {
		file := filepath.Join(t.TempDir(), "data")
		data := "Subject: " + subject + "\r\n\r\n" + strings.Repeat("a line of the body\r\n", 50) // 1000+ bytes
		os.WriteFile(file, []byte(data), 0o600)
		in := &checkInput{Msg: &queue.Message{File: file, Size: int64(len(data)), Envelope: queue.Envelope{From: "s@example.org", Recipients: []string{rcpt}}}}
		_, err := c.check(context.Background(), in)
		return err
	}
	for _, s := range []string{"junk", "fwd"} {
		if err := check(s, "alice@example.test"); err != nil {
			t.Errorf("alice's script would %s it (nothing stored), refused for her quota: %v", map[string]string{"junk": "discard", "fwd": "redirect"}[s], err)
		}
	}
	for _, rcpt := range []string{"alice@example.test", "bob@example.test"} {
		if d, ok := diag.As(check("keep", rcpt)); !ok || d.SMTPCode != 552 {
			t.Errorf("%s keeps it: not refused (%v)", rcpt, d)
		}
	}
	if ents, _ := os.ReadDir(cfg.Server.DataDir); len(ents) != 0 {
		t.Errorf("left in server.data_dir: %v", ents)
	}
	// RCPT with SIZE=: alice's quota waits for the message, bob's refuses.
	if e := deliver.RefusalUnless(cfg, mb("alice@example.test"), 5000, d.sieveFiltered); e != nil {
		t.Errorf("RCPT to alice (a script) with SIZE=5000: %v", e)
	}
	if e := deliver.RefusalUnless(cfg, mb("bob@example.test"), 5000, d.sieveFiltered); e == nil || e.SMTPCode != 552 {
		t.Errorf("RCPT to bob (no script) with SIZE=5000: %v", e)
	}
}

// A quota raised or removed by another process stops the end of DATA's
// refusal at once, though the directory's resolution cache (an hour here)
// still holds the old quota; lowered again, it refuses again.
func TestQuotaCheckerSeesAQuotaChangedElsewhere(t *testing.T) {
	ctx := context.Background()
	cfg, dir, other := quotaElsewhere(t, 1000)
	c := quotaChecker{cfg: cfg, dir: dir}
	file := filepath.Join(t.TempDir(), "data")
	data := "Subject: x\r\n\r\n" + strings.Repeat("a line of the body\r\n", 100) // 2000+ bytes
	os.WriteFile(file, []byte(data), 0o600)
	check := func() error {
		in := &checkInput{Msg: &queue.Message{File: file, Size: int64(len(data)), Envelope: queue.Envelope{From: "s@example.org", Recipients: []string{"alice@example.test"}}}}
		_, err := c.check(ctx, in)
		return err
	}
	// 0 last, then 1000: a quota set where there was none refuses at
	// once too, although the resolution cached at the step before had
	// no quota (the check must not trust it to say no quota matters).
	for i, q := range []int64{1000, 100000, 1000, 0, 1000} {
		if i > 0 {
			if err := other.SetQuota(ctx, "alice@example.test", q, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := check(); (err != nil) != (q == 1000) {
			t.Errorf("quota %d (step %d): refusal %v", q, i, err)
		}
	}
}

// At RCPT with SIZE=, as at the end of DATA: a quota set elsewhere where
// there was none refuses at once, although the resolution cached before
// had none; raised or removed, it stops refusing at once.
func TestRcptSizeSeesAQuotaChangedElsewhere(t *testing.T) {
	ctx := context.Background()
	cfg, dir, other := quotaElsewhere(t, 0)
	d := &daemon{cfg: cfg, dir: dir}
	for i, q := range []int64{0, 1000, 100000, 1000, 0} {
		if i > 0 {
			if err := other.SetQuota(ctx, "alice@example.test", q, 0); err != nil {
				t.Fatal(err)
			}
		}
		res, err := dir.Resolve(ctx, "alice@example.test")
		if err != nil {
			t.Fatal(err)
		}
		if e := d.deliverable(res, 2000); (e != nil) != (q == 1000) {
			t.Errorf("quota %d (step %d): refusal %v", q, i, e)
		}
	}
}

// Sieve scripts that cannot be run on the message at the end of DATA
// (the copy cannot be staged: server.data_dir is gone) leave the quota
// refusal standing, as if they stored it, and say so: the refusal's
// Reason (its journal record, ebb explain REF), a log line with the ref,
// and ebb_quota_sieve_unconsulted_total (principle 7).
func TestQuotaRefusalSaysTheScriptsCouldNotBeConsulted(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "gone") // not there: the copy cannot be staged
	rcpt := "alice@example.test"
	dir := quotaDir{rcpt: {Address: rcpt, Mailboxes: []*directory.Mailbox{{Address: rcpt, Enabled: true, QuotaBytes: 500}}}}
	home := filepath.Join(cfg.Mail.Root, "example.test", "alice")
	os.MkdirAll(home, 0o700)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("if header :is \"subject\" \"junk\" { discard; stop; }\n"), 0o600)
	var logBuf strings.Builder
	lg, err := logging.New(&logBuf, "logfmt", "warn")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, log: lg, quotaUnconsulted: prometheus.NewCounter(prometheus.CounterOpts{Name: "t"})}
	c := quotaChecker{cfg: cfg, dir: dir, sieve: d.dryRunSieve(), log: d.log.With("component", "quota"), unconsulted: d.quotaUnconsulted}
	file := filepath.Join(t.TempDir(), "data")
	data := "Subject: junk\r\n\r\n" + strings.Repeat("a line of the body\r\n", 50) // 1000+ bytes
	os.WriteFile(file, []byte(data), 0o600)
	in := &checkInput{Msg: &queue.Message{ID: "Q1", File: file, Size: int64(len(data)), Envelope: queue.Envelope{From: "s@example.org", Recipients: []string{rcpt}}}}
	_, err = c.check(context.Background(), in)
	de, ok := diag.As(err)
	if !ok || de.SMTPCode != 552 {
		t.Fatalf("the scripts could not be run: %v, want the quota's refusal standing", err)
	}
	if !strings.Contains(de.Reason, "the Sieve scripts of "+rcpt+" could not be run on the message") || !strings.Contains(de.Reason, cfg.Server.DataDir) {
		t.Errorf("refusal's reason %q does not say the scripts could not be consulted, and why", de.Reason)
	}
	if _, _, text := de.SMTPReply(); strings.Contains(text, cfg.Server.DataDir) {
		t.Errorf("the client's reply names a local path: %q", text)
	}
	if v := countOf(d.quotaUnconsulted); v != 1 {
		t.Errorf("counted %v, want 1", v)
	}
	for _, want := range []string{"Sieve scripts could not be consulted", "queue_id=Q1", "rcpt=" + rcpt, "ref=" + de.Ref, "err="} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("log lacks %q: %q", want, logBuf.String())
		}
	}
	// With the scripts run (server.data_dir there), the script's discard
	// lifts the refusal, and nothing more is said.
	os.Mkdir(cfg.Server.DataDir, 0o700)
	if _, err := c.check(context.Background(), in); err != nil {
		t.Errorf("data_dir back, the script discards it: %v", err)
	}
	if v := countOf(d.quotaUnconsulted); v != 1 {
		t.Errorf("counted %v, want still 1", v)
	}
}

// countOf is c's value.
func countOf(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// brokenDir hosts example.test but cannot resolve its addresses now.
type brokenDir struct{}

func (brokenDir) Resolve(context.Context, string) (*directory.Resolution, error) {
	return nil, errors.New("database is locked")
}

func (brokenDir) IsLocalDomain(_ context.Context, domain string) (bool, error) {
	return domain == "example.test", nil
}

// An end-of-DATA check not made for a recipient (the directory did not
// answer; the message could not be measured) lets the message through —
// the delivery checks again — and says so: a note on the message's
// record, a log line, ebb_checks_skipped_total{check, reason}.
func TestEndOfDataChecksNotMadeAreSaid(t *testing.T) {
	cfg, lg, logBuf := checkSetup(t)
	d := &daemon{cfg: cfg, log: lg, checksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t"}, []string{"check", "reason"})}
	file := filepath.Join(t.TempDir(), "data")
	data := "Subject: hi\r\n\r\nhi\r\n"
	os.WriteFile(file, []byte(data), 0o600)
	msg := func() *checkInput {
		return &checkInput{Msg: &queue.Message{ID: "Q1", File: file, Size: int64(len(data)),
			Envelope: queue.Envelope{From: "s@example.org", Recipients: []string{"alice@example.test", "bob@example.org"}}}}
	}
	for _, c := range []checker{
		loopChecker{dir: brokenDir{}, skipped: d.uncheck("loop")},
		quotaChecker{cfg: cfg, dir: brokenDir{}, log: lg.Logger, skipped: d.uncheck("quota")},
	} {
		in := msg()
		if _, err := c.check(context.Background(), in); err != nil {
			t.Errorf("%s: %v, want let through", c.name(), err)
		}
		if len(in.Notes) != 1 || in.Notes[0].Checker != c.name() ||
			!strings.Contains(in.Notes[0].Detail, c.name()+" check not made for <alice@example.test>: the directory did not answer for it (database is locked)") {
			t.Errorf("%s: notes %+v", c.name(), in.Notes)
		}
		if v := counted2(d.checksSkipped, c.name(), "directory"); v != 1 {
			t.Errorf("%s: counted %v, want 1", c.name(), v)
		}
		if l := logBuf.String(); !strings.Contains(l, c.name()+" check not made") || !strings.Contains(l, "queue_id=Q1") || !strings.Contains(l, "rcpt=alice@example.test") {
			t.Errorf("%s: log %q", c.name(), l)
		}
	}
	// The message cannot be measured: the quota check is not made for
	// a recipient with a quota.
	os.Remove(file)
	rcpt := "alice@example.test"
	dir := quotaDir{rcpt: {Address: rcpt, Mailboxes: []*directory.Mailbox{{Address: rcpt, Enabled: true, QuotaBytes: 5}}}}
	in := msg()
	if _, err := (quotaChecker{cfg: cfg, dir: dir, log: lg.Logger, skipped: d.uncheck("quota")}).check(context.Background(), in); err != nil {
		t.Errorf("unreadable: %v, want let through", err)
	}
	if len(in.Notes) != 1 || !strings.Contains(in.Notes[0].Detail, "quota check not made for <alice@example.test>: the message could not be read") {
		t.Errorf("unreadable: notes %+v", in.Notes)
	}
	if v := counted2(d.checksSkipped, "quota", "unreadable"); v != 1 {
		t.Errorf("unreadable: counted %v, want 1", v)
	}
	// The loop check reads the file when the Delivered-To values were not
	// kept at receive (too many): unreadable, it is not made, and said.
	in = msg()
	in.Msg.HeaderSeen, in.Msg.ManyDeliveredTo = true, true
	if _, err := (loopChecker{dir: dir, skipped: d.uncheck("loop")}).check(context.Background(), in); err != nil {
		t.Errorf("loop, unreadable: %v, want let through", err)
	}
	if len(in.Notes) != 1 || !strings.Contains(in.Notes[0].Detail, "loop check not made for <alice@example.test>: the message could not be read") {
		t.Errorf("loop, unreadable: notes %+v", in.Notes)
	}
	if v := counted2(d.checksSkipped, "loop", "unreadable"); v != 1 {
		t.Errorf("loop, unreadable: counted %v, want 1", v)
	}
}

// counted2 is the value of cv's counter with label values a, b.
func counted2(cv *prometheus.CounterVec, a, b string) float64 {
	var m dto.Metric
	cv.WithLabelValues(a, b).Write(&m)
	return m.GetCounter().GetValue()
}

// staleDir remembers alice with a 1000-byte quota but cannot read her now
// (deliver.Fresh's MailboxNow fails).
type staleDir struct{ quotaDir }

func (staleDir) MailboxNow(context.Context, string) (*directory.Mailbox, error) {
	return nil, errors.New("database is locked")
}

// A quota decided on the cached mailbox because the directory could not
// read it now is said: at the end of DATA in the message's record, the
// log and ebb_quota_cached_total{at="data"}; at RCPT (no record yet) in
// the log and ebb_quota_cached_total{at="rcpt"}.
func TestCachedQuotaDecisionIsSaid(t *testing.T) {
	cfg, lg, logBuf := checkSetup(t)
	rcpt := "alice@example.test"
	dir := staleDir{quotaDir{rcpt: {Address: rcpt, Mailboxes: []*directory.Mailbox{{Address: rcpt, Enabled: true, QuotaBytes: 1000}}}}}
	d := &daemon{cfg: cfg, log: lg, quotaCached: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t"}, []string{"at"})}
	file := filepath.Join(t.TempDir(), "data")
	data := "Subject: hi\r\n\r\nhi\r\n"
	os.WriteFile(file, []byte(data), 0o600)
	in := &checkInput{Msg: &queue.Message{ID: "Q1", File: file, Size: int64(len(data)),
		Envelope: queue.Envelope{From: "s@example.org", Recipients: []string{rcpt}}}}
	c := quotaChecker{cfg: cfg, dir: dir, log: lg.With("component", "quota"), skipped: d.uncheck("quota"), cached: d.quotaCached}
	if _, err := c.check(context.Background(), in); err != nil {
		t.Errorf("a small message under the cached quota: %v, want let through", err)
	}
	if len(in.Notes) != 1 || in.Notes[0].Checker != "quota" ||
		!strings.Contains(in.Notes[0].Detail, "quota of <alice@example.test> decided on the cached mailbox") || !strings.Contains(in.Notes[0].Detail, "database is locked") {
		t.Errorf("notes %+v, want the cached quota said", in.Notes)
	}
	var m dto.Metric
	d.quotaCached.WithLabelValues("data").Write(&m)
	if v := m.GetCounter().GetValue(); v != 1 {
		t.Errorf("ebb_quota_cached_total{at=data} %v, want 1", v)
	}
	if l := logBuf.String(); !strings.Contains(l, "quota decided on the cached mailbox") || !strings.Contains(l, "queue_id=Q1") ||
		!strings.Contains(l, "mailbox=alice@example.test") || !strings.Contains(l, "database is locked") {
		t.Errorf("log %q", l)
	}
	// RCPT with a declared size past the cached quota: refused on it, and
	// said. A real directory, closed after the resolution was cached.
	ctx := context.Background()
	var err error
	d.dir, err = directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.dir.Close()
	if err := d.dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.dir.AddMailbox(ctx, directory.Mailbox{Address: rcpt, Enabled: true, QuotaBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	res, err := d.dir.Resolve(ctx, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	d.dir.Close()
	logBuf.Reset()
	if e := d.deliverable(res, 5000); e == nil || e.SMTPCode != 552 {
		t.Errorf("RCPT, SIZE=5000 under the cached 1000-byte quota: %v, want 552", e)
	}
	d.quotaCached.WithLabelValues("rcpt").Write(&m)
	if v := m.GetCounter().GetValue(); v != 1 {
		t.Errorf("ebb_quota_cached_total{at=rcpt} %v, want 1", v)
	}
	if l := logBuf.String(); !strings.Contains(l, "at=rcpt") || !strings.Contains(l, "mailbox=alice@example.test") {
		t.Errorf("RCPT log %q", l)
	}
}

// checkSetup is a config with temporary mail and data directories and
// Sieve off, and a logger writing to the builder returned.
func checkSetup(t *testing.T) (*config.Config, *logging.Logger, *strings.Builder) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = t.TempDir()
	cfg.Sieve.Enabled = false
	logBuf := &strings.Builder{}
	lg, err := logging.New(logBuf, "logfmt", "warn")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, lg, logBuf
}

// quotaElsewhere is a directory whose resolutions stay cached an hour,
// holding alice@example.test with quota bytes, and a second connection to
// it that changes quotas as another process (ebb user set --quota) does.
func quotaElsewhere(t *testing.T, quota int64) (*config.Config, *directory.Directory, *directory.Directory) {
	t.Helper()
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = t.TempDir()
	cfg.Sieve.Enabled = false
	cfg.Directory.CacheTTL = config.D(3600e9)
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	other, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.test", Enabled: true, QuotaBytes: quota}); err != nil {
		t.Fatal(err)
	}
	return cfg, dir, other
}
