package reports

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/tlsrpt"
)

// Reporter is who a report says it comes from.
type Reporter struct {
	Org       string // organization-name, org_name
	Email     string // the report's From: (DMARC's email)
	Contact   string // contact-info, extra_contact_info
	Submitter string // the host name in file names and Subject
}

// BuildTLS makes the TLS report for domain and day from its records
// (RFC 8460 §4.4): one policy entry per policy seen (type, strings, mx),
// its successes and failures, and a failure detail per kind of failure
// with how many sessions had it.
func BuildTLS(rp Reporter, domain, day string, recs []TLSRecord) (*tlsrpt.Report, error) {
	start, end, err := DayBounds(day)
	if err != nil {
		return nil, err
	}
	r := &tlsrpt.Report{OrganizationName: rp.Org, ContactInfo: rp.Contact,
		DateRange: tlsrpt.DateRange{Start: start, End: end.Add(-time.Second)},
		ReportID:  fmt.Sprintf("%s_%s@%s", day, domain, rp.Submitter)}
	idx := map[string]int{}
	for _, rec := range recs {
		key := rec.PolicyType + "\x00" + strings.Join(rec.PolicyStrings, "\x01") + "\x00" + strings.Join(rec.MXHost, "\x01")
		i, ok := idx[key]
		if !ok {
			i = len(r.Policies)
			idx[key] = i
			r.Policies = append(r.Policies, tlsrpt.Policy{Policy: tlsrpt.PolicyDesc{Type: rec.PolicyType, String: rec.PolicyStrings,
				Domain: domain, MXHost: rec.MXHost}})
		}
		p := &r.Policies[i]
		if rec.Result == "" {
			p.Summary.Success += rec.Count
			continue
		}
		p.Summary.Failure += rec.Count
		found := false
		for j := range p.FailureDetails {
			fd := &p.FailureDetails[j]
			if fd.ResultType == rec.Result && fd.SendingMTAIP == rec.SendingIP && fd.ReceivingMXHostname == rec.ReceivingHost &&
				fd.ReceivingIP == rec.ReceivingIP && fd.AdditionalInformation == rec.Detail {
				fd.FailedSessionCount += rec.Count
				found = true
				break
			}
		}
		if !found {
			p.FailureDetails = append(p.FailureDetails, tlsrpt.FailureDetail{ResultType: rec.Result, SendingMTAIP: validIP(rec.SendingIP),
				ReceivingMXHostname: rec.ReceivingHost, ReceivingIP: validIP(rec.ReceivingIP), FailedSessionCount: rec.Count,
				AdditionalInformation: rec.Detail})
		}
	}
	sort.SliceStable(r.Policies, func(i, j int) bool { return r.Policies[i].Policy.Type < r.Policies[j].Policy.Type })
	return r, nil
}

func validIP(s string) string {
	if net.ParseIP(s) == nil {
		return ""
	}
	return s
}

// BuildDMARC makes the DMARC aggregate report for the policy domain and
// day from its records (RFC 7489 §7.2): the record published as the last
// evaluation of the day saw it, one row per source and verdicts.
func BuildDMARC(rp Reporter, domain, day string, recs []DMARCRecord) (*dmarcrpt.Feedback, error) {
	start, end, err := DayBounds(day)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no evaluations of %s on %s", domain, day)
	}
	f := &dmarcrpt.Feedback{Metadata: dmarcrpt.ReportMetadata{OrgName: rp.Org, Email: rp.Email, ExtraContactInfo: rp.Contact,
		ReportID:  fmt.Sprintf("%s_%s@%s", day, domain, rp.Submitter),
		DateRange: dmarcrpt.DateRange{Begin: start.Unix(), End: end.Unix() - 1}}}
	f.Policy = recs[len(recs)-1].Published
	for _, rec := range recs {
		row := rec.Row
		row.Row.Count = rec.Count
		f.Records = append(f.Records, row)
	}
	return f, nil
}

// Evaluation is what the receiving side knows of a message DMARC judged,
// besides msgauth's verdicts.
type Evaluation struct {
	Time     time.Time
	IP       string
	MailFrom string   // the reverse path ("" for <>)
	Helo     string   // the HELO name (SPF's identity for <>)
	Rcpts    []string // envelope recipients
	// Applied is what ebb did: none, quarantine or reject, and why it
	// differs from the policy (local_policy, sampled_out), if it does.
	Applied string
	Reasons []dmarcrpt.Reason
}

// DMARCRecordOf makes the record of one evaluation, or false when the
// From: domain publishes no record that asks for aggregate reports.
func DMARCRecordOf(res *msgauth.Result, ev Evaluation) (DMARCRecord, bool) {
	dm := res.DMARC
	pub := dm.Published
	if pub == nil || len(pub.RUA) == 0 || dm.From == "" {
		return DMARCRecord{}, false
	}
	pass := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "fail"
	}
	row := dmarcrpt.Record{
		Row: dmarcrpt.Row{SourceIP: ev.IP, PolicyEvaluated: dmarcrpt.PolicyEvaluated{Disposition: ev.Applied,
			DKIM: pass(dm.DKIMAligned), SPF: pass(dm.SPFAligned), Reasons: ev.Reasons}},
		Identifiers: dmarcrpt.Identifiers{HeaderFrom: dm.From},
	}
	if _, d, ok := envaddr.Split(ev.MailFrom); ok {
		row.Identifiers.EnvelopeFrom = strings.ToLower(d)
	} else {
		// The null reverse path: SPF checked the HELO name (RFC 7208
		// §2.4), and the schema wants an envelope_from.
		row.Identifiers.EnvelopeFrom = strings.ToLower(strings.TrimSuffix(ev.Helo, "."))
	}
	if len(ev.Rcpts) > 0 {
		if _, d, ok := strings.Cut(ev.Rcpts[0], "@"); ok {
			row.Identifiers.EnvelopeTo = strings.ToLower(d)
		}
	}
	for _, d := range res.DKIM {
		if d.Domain == "" {
			continue
		}
		row.AuthResults.DKIM = append(row.AuthResults.DKIM, dmarcrpt.DKIMResult{Domain: d.Domain, Selector: d.Selector, Result: dkimResult(d.Result)})
	}
	scope := "mfrom"
	if ev.MailFrom == "" {
		scope = "helo"
	}
	row.AuthResults.SPF = []dmarcrpt.SPFResult{{Domain: res.SPF.Domain, Scope: scope, Result: spfResult(string(res.SPF.Result))}}
	return DMARCRecord{Day: DayOf(ev.Time), Domain: pub.Domain, RUA: pub.RUA, Row: row,
		Published: dmarcrpt.PolicyPublished{Domain: pub.Domain, ADKIM: pub.ADKIM, ASPF: pub.ASPF, P: pub.P, SP: pub.SP, Pct: pub.Pct, FO: pub.FO}}, true
}

// dkimResult and spfResult map ebb's results onto the schema's values
// (RFC 7489 Appendix C DKIMResultType, SPFResultType).
func dkimResult(r string) string {
	switch r {
	case "none", "pass", "fail", "policy", "neutral", "temperror", "permerror":
		return r
	}
	return "permerror"
}

func spfResult(r string) string {
	switch r {
	case "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror":
		return r
	case "":
		return "none"
	}
	return "permerror"
}
