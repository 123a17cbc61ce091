package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus"
)

// Issue 24: a scanner's reply without its verdict is not a verdict. rspamd
// answering "{}" was recorded as ham with score 0; now it is unscanned
// (protocol) under the failure policy, like every reply in this class:
// rspamd without an action or a score or with an action ebb does not know,
// clamd without "stream: " or without a name before FOUND, a milter
// without a final answer or with a reply code that is neither 4xx nor 5xx.
// rspamd saying it skipped its checks (is_skipped) is skipped, not ham.
func TestRspamdReplyWithoutVerdict(t *testing.T) {
	for _, c := range []struct {
		name, reply string
		status      Status
		cause       string
	}{
		{"empty object", `{}`, Failed, CauseProtocol},
		{"a score, no action", `{"score": 3.5, "required_score": 15}`, Failed, CauseProtocol},
		{"an action, no score", `{"action": "no action"}`, Failed, CauseProtocol},
		{"an action ebb does not know", `{"score": 1, "required_score": 15, "action": "discard"}`, Failed, CauseProtocol},
		{"the legacy /check form", `{"default": {"is_spam": false, "score": 2.9, "required_score": 15, "action": "no action"}}`, Failed, CauseProtocol},
		{"rspamd skipped its checks (real rspamd 3.4, Flags: skip)", `{"is_skipped":true,"score":0.0,"required_score":15.0,"action":"no action","symbols":{},"messages":{},"time_real":0.000026}`, Skipped, CauseScannerSkip},
		{"skipped, but a prefilter rejected", `{"is_skipped":true,"score":0.0,"required_score":15.0,"action":"reject"}`, Refuse, ""},
		{"ham (real rspamd 3.4)", `{"is_skipped":false,"score":2.900000,"required_score":15.0,"action":"no action","symbols":{"ARC_NA":{"name":"ARC_NA","score":0.0}}}`, Ham, ""},
		{"spam", `{"score": 16, "required_score": 15, "action": "add header"}`, IsSpam, ""},
	} {
		var rep rspamdReply
		if err := json.Unmarshal([]byte(c.reply), &rep); err != nil {
			t.Fatal(err)
		}
		r := rspamdResult(&Result{Scanner: "rspamd", Kind: Spam}, &rep)
		if r.Status != c.status || r.Cause != c.cause {
			t.Errorf("%s: %s %q (%v), want %s %q", c.name, r.Status, r.Cause, r.Err, c.status, c.cause)
		}
	}
}

func TestClamdAndMilterRepliesWithoutVerdict(t *testing.T) {
	for _, reply := range []string{"OK", "/tmp/x: OK", "stream:  FOUND", "stream: ", "1: stream"} {
		if r := parseClamdReply(&Result{}, reply); r.Status != Failed || r.Cause != CauseProtocol {
			t.Errorf("clamd %q: %s %q, want unscanned (protocol)", reply, r.Status, r.Cause)
		}
	}
	if r := milterResult(&Result{}, nil, nil); r.Status != Failed || r.Cause != CauseProtocol {
		t.Errorf("a milter without a final answer: %s %q", r.Status, r.Cause)
	}
	for _, code := range []int{250, 354, 0, 600} {
		r := milterResult(&Result{}, &milter.Action{Code: milter.ActReplyCode, SMTPCode: code, SMTPText: "ok"}, nil)
		if r.Status != Failed || r.Cause != CauseProtocol {
			t.Errorf("a milter replying %d: %s %q, want unscanned (protocol)", code, r.Status, r.Cause)
		}
	}
	if r := milterResult(&Result{}, &milter.Action{Code: milter.ActReplyCode, SMTPCode: 554, SMTPText: "5.7.1 no"}, nil); r.Status != Refuse || r.Text != "no" {
		t.Errorf("a milter replying 554: %+v", r)
	}
}

// An rspamd answering "{}" (a fake one: the real one always sends its
// verdict; test/scan/scan_test.go runs the real one) under each policy: the
// header says unscanned (protocol), the policy decides, the metric counts
// it and the log line names the cause and a fix.
func TestRspamdWithoutVerdictUnderThePolicy(t *testing.T) {
	addr := serveFake(t, func(c net.Conn) {
		drain(c)
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	})
	for _, c := range []struct {
		policy Policy
		code   int
	}{{PolicyAccept, 0}, {PolicyTempfail, 451}, {PolicyReject, 554}} {
		var log bytes.Buffer
		reg := prometheus.NewRegistry()
		m := NewMetrics(reg)
		e := New([]Entry{{Scanner: NewRspamd(addr, 2*time.Second, ""), OnFailure: c.policy, SizeKey: "scan.rspamd.max_size", Key: "scan.rspamd"}},
			Options{Logger: slog.New(slog.NewTextHandler(&log, nil)), Metrics: m})
		rep := e.Scan(context.Background(), &Message{Body: "Subject: x\r\n\r\nx\r\n", ID: "Q1"}, All)
		if rep.Verdict.Code != c.code {
			t.Errorf("policy %s: verdict %+v, want %d", c.policy, rep.Verdict, c.code)
		}
		if want := "rspamd=unscanned (protocol; policy " + string(c.policy) + ")"; rep.Coverage() != want {
			t.Errorf("policy %s: coverage %q, want %q", c.policy, rep.Coverage(), want)
		}
		if h := rep.Header(); strings.Contains(h, "X-Spam-Status") || strings.Contains(h, "X-Rspamd-Score") {
			t.Errorf("policy %s: a verdict header for a reply without a verdict:\n%s", c.policy, h)
		}
		if n := counted(t, reg, "ebb_scan_unscanned_total", "rspamd", CauseProtocol); n != 1 {
			t.Errorf("policy %s: ebb_scan_unscanned_total{rspamd,protocol} = %v", c.policy, n)
		}
		l := log.String()
		for _, w := range []string{`msg="scan: message not scanned"`, "queue_id=Q1", "cause=protocol", "policy=" + string(c.policy),
			"no action and no score", `fix="rspamd at ` + addr + ` answered without a verdict ebb can read: check that scan.rspamd.address is rspamd's normal worker (port 11333)`} {
			if !strings.Contains(l, w) {
				t.Errorf("policy %s: the log lacks %q:\n%s", c.policy, w, l)
			}
		}
		if fails := strings.Contains(l, `or instead: scan.rspamd.on_failure = \"accept\" delivered it unscanned: set scan.rspamd.on_failure = \"tempfail\"`); fails != (c.policy == PolicyAccept) {
			t.Errorf("policy %s: the fail-open part of the fix is there: %v\n%s", c.policy, fails, l)
		}
	}
}

// counted is the value of a counter with the labels scanner and cause.
func counted(t *testing.T, reg *prometheus.Registry, name, scanner, cause string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["scanner"] == scanner && labels["cause"] == cause {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// FuzzRspamdReply: whatever JSON rspamd's place holds, a verdict (ham,
// spam, refused, deferred) comes only with an action and a score.
func FuzzRspamdReply(f *testing.F) {
	for _, s := range []string{`{}`, `{"score":1}`, `{"action":"no action","score":0}`, `{"is_skipped":true,"action":"no action","score":0}`, `{"action":"reject"}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var rep rspamdReply
		if json.Unmarshal([]byte(s), &rep) != nil {
			return
		}
		r := rspamdResult(&Result{Scanner: "rspamd", Kind: Spam}, &rep)
		switch r.Status {
		case Ham, IsSpam, Refuse, Defer:
			if rep.Action == nil || rep.Score == nil {
				t.Fatalf("%s: %s without an action and a score", s, r.Status)
			}
		case Failed, Skipped:
		default:
			t.Fatalf("%s: status %s", s, r.Status)
		}
	})
}
