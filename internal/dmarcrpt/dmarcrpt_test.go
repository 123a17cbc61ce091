package dmarcrpt

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"
)

func TestParseRUA(t *testing.T) {
	d, skipped := ParseRUA([]string{"mailto:dmarc@example.org", "mailto:big@rep.test!10m", "MAILTO:x@y.test!500k", "https://h.test/", "mailto:bad!zz", "mailto:nope"})
	if len(d) != 3 || d[0].Address != "dmarc@example.org" || d[1].MaxSize != 10<<20 || d[2].MaxSize != 500<<10 || d[2].Address != "x@y.test" {
		t.Errorf("%+v", d)
	}
	if len(skipped) != 3 {
		t.Errorf("skipped %v", skipped)
	}
	// Percent-encoded (RFC 6068), and what envaddr refuses is no
	// destination.
	d, skipped = ParseRUA([]string{"mailto:dmarc%40Example.ORG!1m", "mailto:\"a b\"@x.test", "mailto:a@x.test,b@x.test"})
	if len(d) != 1 || d[0].Address != "dmarc@example.org" || d[0].MaxSize != 1<<20 || len(skipped) != 2 {
		t.Errorf("%+v, skipped %v", d, skipped)
	}
	if AuthorizationName("example.org", "rep.test") != "example.org._report._dmarc.rep.test" || !Authorizes([]string{"v=DMARC1"}) || Authorizes([]string{"v=spf1"}) {
		t.Error("authorisation")
	}
}

// A report made here reads back; reports as other implementations write
// them (a namespace, unknown elements) read too; gzip and zip.
func TestParse(t *testing.T) {
	f := &Feedback{Metadata: ReportMetadata{OrgName: "o", Email: "e@o.test", ReportID: "r", DateRange: DateRange{Begin: 1, End: 2}},
		Policy: PolicyPublished{Domain: "example.org", P: "reject", Pct: 100},
		Records: []Record{{Row: Row{SourceIP: "192.0.2.1", Count: 3, PolicyEvaluated: PolicyEvaluated{Disposition: "none", DKIM: "pass", SPF: "fail"}},
			Identifiers: Identifiers{HeaderFrom: "example.org"}, AuthResults: AuthResults{SPF: []SPFResult{{Domain: "example.org", Result: "fail"}}}}}}
	gz, err := f.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(bytes.NewReader(gz), 1<<20)
	if err != nil || got.Messages() != 3 || got.Records[0].AuthResults.SPF[0].Result != "fail" {
		t.Fatalf("%+v %v", got, err)
	}
	x, _ := f.XML()
	if !bytes.HasPrefix(x, []byte("<?xml")) || !bytes.Contains(x, []byte("<version>1.0</version>")) {
		t.Errorf("%s", x)
	}
	ns := `<?xml version="1.0"?><feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"><extra>1</extra><report_metadata><org_name>g</org_name><email>a@g.test</email><report_id>1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata><policy_published><domain>example.org</domain><p>none</p></policy_published><record><row><source_ip>192.0.2.9</source_ip><count>7</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.org</header_from></identifiers><auth_results><spf><domain>example.org</domain><result>pass</result></spf></auth_results></record></feedback>`
	if got, err := Parse(strings.NewReader(ns), 1<<20); err != nil || got.Messages() != 7 {
		t.Errorf("namespaced: %+v %v", got, err)
	}
	var big bytes.Buffer
	zw := gzip.NewWriter(&big)
	zw.Write([]byte(strings.Repeat("<a>", 1<<16)))
	zw.Close()
	if _, err := Parse(&big, 1000); err == nil {
		t.Error("a report over the limit parsed")
	}
	if FileName("mx.a.test", "b.test", time.Unix(1, 0), time.Unix(2, 0), "") != "mx.a.test!b.test!1!2.xml.gz" {
		t.Error("file name")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<feedback><report_metadata><org_name>g</org_name><report_id>1</report_id></report_metadata><policy_published><domain>d</domain></policy_published></feedback>`))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(bytes.NewReader(b), 1<<20)
		if err == nil && (r.Metadata.ReportID == "" || r.Policy.Domain == "") {
			t.Fatal("a report without its required fields")
		}
	})
}
