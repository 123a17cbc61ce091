package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestReportSaysEachVerdictAndTheSMTPAnswer(t *testing.T) {
	clam := &stub{name: "clamd", kind: Virus, res: Result{Status: Infected, Virus: "Eicar-Test-Signature"}}
	spam := &stub{name: "spamd", kind: Spam, res: Result{Status: Ham, Score: 1.5, Required: 5, Symbols: []string{"BAYES_00", "DKIM_SIGNED"}}}
	rep := New([]Entry{{Scanner: clam, OnFailure: PolicyTempfail}, {Scanner: spam, OnFailure: PolicyAccept}}, Options{Parallel: true}).
		Scan(context.Background(), testMsg, All)
	var b bytes.Buffer
	rep.WriteText(&b)
	text := b.String()
	for _, want := range []string{
		"clamd    virus Eicar-Test-Signature in ",
		"spamd    ham score 1.5 / 5.0 in ",
		"         symbols: BAYES_00, DKIM_SIGNED\n",
		"SMTP: 554 5.7.1 ",
		"(decided by clamd)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "header added") {
		t.Errorf("a refused message gets no header:\n%s", text)
	}
	b.Reset()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Results []struct {
			Scanner, Status, Virus string
			Score                  float64
		}
		Code   int    `json:"smtp_code"`
		Reply  string `json:"smtp_reply"`
		Header string
	}
	if err := json.Unmarshal(b.Bytes(), &j); err != nil || j.Code != 554 || len(j.Results) != 2 || j.Header != "" ||
		j.Results[0].Virus != "Eicar-Test-Signature" || j.Results[1].Score != 1.5 || !strings.Contains(j.Reply, "decided by clamd") {
		t.Errorf("JSON %s (%v)", b.String(), err)
	}
}

func TestReportOfAnAcceptedMessageShowsItsHeader(t *testing.T) {
	spam := &stub{name: "spamd", kind: Spam, res: Result{Status: Ham, Score: 0.2, Required: 5}}
	rep := New([]Entry{{Scanner: spam, OnFailure: PolicyAccept}}, Options{}).Scan(context.Background(), testMsg, All)
	if code, text := rep.Reply(); code != 250 || text != "2.0.0 Ok: would be queued" {
		t.Errorf("Reply() = %d %q", code, text)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "SMTP: 250 2.0.0 Ok: would be queued\nheader added:\n") || strings.Contains(b.String(), "\r") {
		t.Errorf("text:\n%q", b.String())
	}
}
