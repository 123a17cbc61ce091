package tlsrpt

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	for _, c := range []struct {
		txt  string
		want string // the rua as parsed, or "error"
	}{
		{"v=TLSRPTv1; rua=mailto:tls@example.net", "mailto:tls@example.net"},
		{"v=TLSRPTv1;rua=mailto:a@example.net,https://r.example.net/tls", "mailto:a@example.net https://r.example.net/tls"},
		{"v=TLSRPTv1; rua=ftp://x.example, mailto:b@example.net", "mailto:b@example.net"},
		{"v=TLSRPTv1; ext=1; rua=https://h.example/", "https://h.example/"},
		{"v=TLSRPTv1; rua=ftp://x", "error"},
		{"v=TLSRPTv1", "error"},
		{"rua=mailto:a@example.net; v=TLSRPTv1", "error"},
		{"v=TLSRPTv2; rua=mailto:a@example.net", "error"},
		{"v=TLSRPTv1; rua=mailto:not an address", "error"},
		{"v=TLSRPTv1; rua=mailto:tls%40example.net", "mailto:tls%40example.net"},
		{"v=TLSRPTv1; rua=mailto:a%example.net@x.example", "error"},
		{"v=TLSRPTv1; rua=mailto:Reports <r@example.net>", "error"},
	} {
		r, err := ParseRecord(c.txt)
		got := "error"
		if err == nil {
			var us []string
			for _, u := range r.RUA {
				us = append(us, u.String())
			}
			got = strings.Join(us, " ")
		}
		if got != c.want {
			t.Errorf("%q: %s, want %s (%v)", c.txt, got, c.want, err)
		}
	}
	if _, err := SelectRecord([]string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"}); err == nil {
		t.Error("two records accepted")
	}
	if r, err := SelectRecord([]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test"}); err != nil || len(r.RUA) != 1 {
		t.Errorf("%v %v", r, err)
	}
}

func TestReportRoundTripAndLimits(t *testing.T) {
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	r := &Report{OrganizationName: "o", ContactInfo: "c", ReportID: "id", DateRange: DateRange{Start: start, End: start.Add(time.Hour)},
		Policies: []Policy{{Policy: PolicyDesc{Type: PolicyTLSA, Domain: "example.net", String: []string{"3 1 1 ab"}}, Summary: Summary{Success: 1}}}}
	gz, err := r.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(bytes.NewReader(gz))
	if err != nil || got.Policies[0].Policy.String[0] != "3 1 1 ab" || !got.DateRange.Start.Equal(start) {
		t.Fatalf("%+v %v", got, err)
	}
	j, _ := r.JSON()
	if !bytes.Contains(j, []byte(`"start-datetime":"2025-06-01T00:00:00Z"`)) || !bytes.Contains(j, []byte(`"total-successful-session-count":1`)) {
		t.Errorf("%s", j)
	}
	if _, err := Parse(strings.NewReader(`{"organization-name":"o"}`)); err == nil {
		t.Error("a report without report-id parsed")
	}
	if _, err := Parse(strings.NewReader(strings.Repeat(" ", MaxReport+10))); err == nil {
		t.Error("an oversized report parsed")
	}
	if FileName("mx.a.test", "b.test", start, start.Add(time.Hour), "") != "mx.a.test!b.test!1748736000!1748739600.json.gz" {
		t.Error(FileName("mx.a.test", "b.test", start, start.Add(time.Hour), ""))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"organization-name":"o","date-range":{"start-datetime":"2025-06-01T00:00:00Z","end-datetime":"2025-06-01T23:59:59Z"},"contact-info":"c","report-id":"r","policies":[{"policy":{"policy-type":"sts","policy-domain":"x.test"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(bytes.NewReader(b))
		if err == nil && (r.ReportID == "" || r.OrganizationName == "") {
			t.Fatal("a report without its required fields")
		}
	})
}
