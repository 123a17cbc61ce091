package scan

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// The replies below are spamd's and clamd's own, recorded from the Debian
// packages (shared/notes/services.md).
func TestSpamdReply(t *testing.T) {
	cases := []struct {
		name, reply string
		spam        bool
		score, req  float64
		body        string
		bad         bool
	}{
		{"SYMBOLS of GTUBE", "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED,NO_RELAYS", true, 1000, 5, "GTUBE,NO_RECEIVED,NO_RELAYS", false},
		{"CHECK of ham, -0.0, no body", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.0 / 5.0\r\n\r\n", false, 0, 5, "", false},
		{"Yes/No of REPORT_IFSPAM", "SPAMD/1.1 0 EX_OK\r\nSpam: Yes ; 6.1 / 5.0\r\n\r\n", true, 6.1, 5, "", false},
		{"an error code", "SPAMD/1.0 76 Bad header line: x\r\n", false, 0, 0, "", true},
		{"cut short in the header", "SPAMD/1.1 0 EX_OK\r\nSpam: Tr", false, 0, 0, "", true},
		{"cut short in the body", "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE", false, 0, 0, "", true},
		{"no Spam header", "SPAMD/1.1 0 EX_OK\r\n\r\n", false, 0, 0, "", true},
		{"not spamd", "HTTP/1.1 200 OK\r\n\r\n", false, 0, 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readSpamdReply(bufio.NewReader(strings.NewReader(tc.reply)))
			if tc.bad {
				if err == nil {
					t.Fatalf("got %+v, want an error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.spam != tc.spam || r.score != tc.score || r.required != tc.req || r.body != tc.body {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestClamdReply(t *testing.T) {
	cases := []struct {
		reply  string
		status Status
		virus  string
		cause  string
	}{
		{"stream: OK", Clean, "", ""},
		{"stream: Eicar-Test-Signature.UNOFFICIAL FOUND", Infected, "Eicar-Test-Signature.UNOFFICIAL", ""},
		{"stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND", Infected, "Win.Test.EICAR_HDB-1", ""},
		{"INSTREAM size limit exceeded. ERROR", Skipped, "", CauseScannerLimit},
		{"stream: Can't allocate memory ERROR", Failed, "", CauseProtocol},
		{"UNKNOWN COMMAND", Failed, "", CauseProtocol},
	}
	for _, tc := range cases {
		r := parseClamdReply(&Result{}, tc.reply)
		if r.Status != tc.status || r.Virus != tc.virus || r.Cause != tc.cause {
			t.Errorf("%q: got %s %q %q", tc.reply, r.Status, r.Virus, r.Cause)
		}
	}
	if _, err := readNul(strings.NewReader("stream: O")); err == nil {
		t.Errorf("a reply without its NUL was taken whole")
	}
}

// A message over our limit is skipped and never sent; a virus beats a
// failure; a fail-open policy accepts and says so.
func TestDecide(t *testing.T) {
	clam := &entry{Entry: Entry{OnFailure: PolicyTempfail}}
	spam := &entry{Entry: Entry{OnFailure: PolicyAccept, RejectScore: 15}}
	cases := []struct {
		name string
		rs   []*Result
		code int
	}{
		{"clean and ham", []*Result{{Status: Clean}, {Status: Ham}}, 0},
		{"virus beats a failed spam check", []*Result{{Status: Infected, Virus: "X"}, {Status: Failed, Cause: CauseDown}}, 554},
		{"clamd down, tempfail", []*Result{{Status: Failed, Cause: CauseDown}, {Status: Ham}}, 451},
		{"spamd down, accept", []*Result{{Status: Clean}, {Status: Failed, Cause: CauseTimeout}}, 0},
		{"over our size limit is accepted", []*Result{{Status: Skipped, Cause: CauseSize}, {Status: Ham}}, 0},
		{"over clamd's own limit gets its policy", []*Result{{Status: Skipped, Cause: CauseScannerLimit}, {Status: Ham}}, 451},
		{"spam over reject_score", []*Result{{Status: Clean}, {Status: IsSpam, Score: 20}}, 550},
		{"spam below reject_score is tagged", []*Result{{Status: Clean}, {Status: IsSpam, Score: 6}}, 0},
		{"spam refusal beats clamd's tempfail", []*Result{{Status: Failed, Cause: CauseDown}, {Status: IsSpam, Score: 20}}, 550},
		{"greylist", []*Result{{Status: Clean}, {Status: Defer, Action: "greylist"}}, 451},
	}
	for _, tc := range cases {
		v := decide(tc.rs, []*entry{clam, spam})
		if v.Code != tc.code {
			t.Errorf("%s: code %d, want %d (%+v)", tc.name, v.Code, tc.code, v)
		}
	}
}

func TestHeaderFolding(t *testing.T) {
	var b strings.Builder
	field(&b, "X-Spam-Status", "Yes, score=1000.0 required=5.0 tests=GTUBE,MISSING_DATE,MISSING_MID,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO")
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d: %q", len(l), l)
		}
	}
	if got := strings.ReplaceAll(b.String(), "\r\n\t", " "); !strings.Contains(got, "tests=GTUBE,MISSING_DATE,") {
		t.Errorf("unfolded: %q", got)
	}
	b.Reset()
	field(&b, "X-Test", "a\r\nInjected: yes")
	if strings.Count(b.String(), "\r\n") != 1 {
		t.Errorf("a scanner's CRLF made a second header line: %q", b.String())
	}
}

func FuzzSpamdReply(f *testing.F) {
	f.Add("SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED,NO_RELAYS")
	f.Add("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.0 / 5.0\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := readSpamdReply(bufio.NewReader(strings.NewReader(s)))
		if err == nil && r == nil {
			t.Fatal("nil reply without an error")
		}
	})
}

func FuzzClamdReply(f *testing.F) {
	f.Add("stream: OK\x00")
	f.Add("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\x00")
	f.Add("INSTREAM size limit exceeded. ERROR\x00")
	f.Fuzz(func(t *testing.T, s string) {
		reply, err := readNul(strings.NewReader(s))
		if err != nil {
			return
		}
		r := parseClamdReply(&Result{}, reply)
		if r.Status == Clean && strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(reply), "stream: ")) != "OK" {
			t.Fatalf("%q called clean", s)
		}
	})
}

// A milter on a Unix socket: its path is in neither the reply nor the
// coverage header.
func TestMilterSocketPathStaysLocal(t *testing.T) {
	m, err := NewMilter("unix:/run/secret/dir/milter.sock", time.Second, "h")
	if err != nil {
		t.Fatal(err)
	}
	r := &Result{Scanner: m.Name(), Kind: Filter, Status: Failed, Cause: CauseDown}
	en := &entry{Entry: Entry{Scanner: m, OnFailure: PolicyTempfail}}
	v := decide([]*Result{r}, []*entry{en})
	rep := &Report{Results: []*Result{r}, entries: []*entry{en}}
	for _, s := range []string{v.Text, rep.Header()} {
		if strings.Contains(s, "/run/secret") {
			t.Errorf("the socket path leaks: %q", s)
		}
	}
	if v.Code != 451 || !strings.Contains(rep.Header(), "milter:unix:milter.sock=unscanned (down; policy tempfail)") {
		t.Errorf("code %d, header %q", v.Code, rep.Header())
	}
}
