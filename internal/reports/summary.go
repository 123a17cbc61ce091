package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// DMARCSummary is what the DMARC reports received about one domain say:
// who sends mail as it, from where, passing or failing (ebb dmarc report).
type DMARCSummary struct {
	Domain    string          `json:"domain"`
	Since     time.Time       `json:"since"`
	Reports   int             `json:"reports"`
	Reporters []string        `json:"reporters"`
	Messages  int64           `json:"messages"`
	Pass      int64           `json:"pass"` // DKIM or SPF gave an aligned pass
	Fail      int64           `json:"fail"`
	Sources   []DMARCSource   `json:"sources"`
	Unauth    int             `json:"unauthenticated_reports"` // kept with reports.receive = all
	Policies  []string        `json:"policies_seen"`           // p= as the reporters saw it
	Earliest  time.Time       `json:"earliest"`
	Latest    time.Time       `json:"latest"`
	ByReport  []DMARCByReport `json:"by_report"`
}

// DMARCSource is one sending address and what the reports say of it.
type DMARCSource struct {
	IP           string   `json:"ip"`
	Messages     int64    `json:"messages"`
	Pass         int64    `json:"pass"`
	Fail         int64    `json:"fail"`
	DKIMPass     int64    `json:"dkim_aligned_pass"`
	SPFPass      int64    `json:"spf_aligned_pass"`
	HeaderFrom   []string `json:"header_from"`
	EnvelopeFrom []string `json:"envelope_from,omitempty"`
	DKIMDomains  []string `json:"dkim_domains,omitempty"`
	Dispositions []string `json:"dispositions"` // none=3, quarantine=1
	Reporters    []string `json:"reporters"`
}

// DMARCByReport is one report, in a line.
type DMARCByReport struct {
	Reporter      string    `json:"reporter"`
	ReportID      string    `json:"report_id"`
	Begin         time.Time `json:"begin"`
	End           time.Time `json:"end"`
	Messages      int64     `json:"messages"`
	Authenticated bool      `json:"authenticated"`
}

// SummariseDMARC folds the received reports about domain into a summary.
func SummariseDMARC(domain string, since time.Time, rs []Received) *DMARCSummary {
	s := &DMARCSummary{Domain: domain, Since: since}
	type acc struct {
		src                      DMARCSource
		hf, ef, dk, disp, report map[string]int64
	}
	bySrc := map[string]*acc{}
	reporters, policies := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		f := r.DMARC
		if f == nil {
			continue
		}
		tally(r, &s.Reports, &s.Unauth, reporters)
		if f.Policy.P != "" {
			policies["p="+f.Policy.P] = true
		}
		if s.Earliest.IsZero() || r.Begin.Before(s.Earliest) {
			s.Earliest = r.Begin
		}
		if r.End.After(s.Latest) {
			s.Latest = r.End
		}
		s.ByReport = append(s.ByReport, DMARCByReport{Reporter: r.Reporter, ReportID: r.ReportID, Begin: r.Begin, End: r.End,
			Messages: f.Messages(), Authenticated: r.Authenticated})
		for _, rec := range f.Records {
			n := rec.Row.Count
			ip := rec.Row.SourceIP
			a := bySrc[ip]
			if a == nil {
				a = &acc{src: DMARCSource{IP: ip}, hf: map[string]int64{}, ef: map[string]int64{}, dk: map[string]int64{},
					disp: map[string]int64{}, report: map[string]int64{}}
				bySrc[ip] = a
			}
			pe := rec.Row.PolicyEvaluated
			pass := pe.DKIM == "pass" || pe.SPF == "pass"
			a.src.Messages += n
			s.Messages += n
			if pass {
				a.src.Pass += n
				s.Pass += n
			} else {
				a.src.Fail += n
				s.Fail += n
			}
			if pe.DKIM == "pass" {
				a.src.DKIMPass += n
			}
			if pe.SPF == "pass" {
				a.src.SPFPass += n
			}
			a.hf[rec.Identifiers.HeaderFrom] += n
			if rec.Identifiers.EnvelopeFrom != "" {
				a.ef[rec.Identifiers.EnvelopeFrom] += n
			}
			for _, d := range rec.AuthResults.DKIM {
				a.dk[d.Domain+" "+d.Result] += n
			}
			disp := pe.Disposition
			if disp == "" {
				disp = "none"
			}
			a.disp[disp] += n
			a.report[r.Reporter] += n
		}
	}
	for _, a := range bySrc {
		a.src.HeaderFrom = keys(a.hf, false)
		a.src.EnvelopeFrom = keys(a.ef, false)
		a.src.DKIMDomains = keys(a.dk, false)
		a.src.Dispositions = keys(a.disp, true)
		a.src.Reporters = keys(a.report, false)
		s.Sources = append(s.Sources, a.src)
	}
	sort.Slice(s.Sources, func(i, j int) bool {
		if s.Sources[i].Messages != s.Sources[j].Messages {
			return s.Sources[i].Messages > s.Sources[j].Messages
		}
		return s.Sources[i].IP < s.Sources[j].IP
	})
	s.Reporters = keys(toCount(reporters), false)
	s.Policies = keys(toCount(policies), false)
	if s.Sources == nil {
		s.Sources = []DMARCSource{}
	}
	return s
}

func toCount(m map[string]bool) map[string]int64 {
	out := map[string]int64{}
	for k := range m {
		out[k] = 1
	}
	return out
}

// keys are m's keys sorted, with their counts when withCount.
func keys(m map[string]int64, withCount bool) []string {
	var out []string
	for k, n := range m {
		if withCount {
			k = fmt.Sprintf("%s=%d", k, n)
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteDMARC prints a summary for people.
func WriteDMARC(w io.Writer, s *DMARCSummary) {
	if s.Reports == 0 {
		fmt.Fprintf(w, "No DMARC aggregate reports about %s since %s.\n", s.Domain, s.Since.Format("2006-01-02"))
		fmt.Fprintf(w, "Reports come when %s's DMARC record asks for them (rua=mailto:...) and that address is a mailbox here; ebb dns check %s shows the record.\n", s.Domain, s.Domain)
		return
	}
	pct := func(a, b int64) string {
		if b == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
	}
	fmt.Fprintf(w, "DMARC aggregate reports about %s: %d from %s, %s to %s\n", s.Domain, s.Reports, strings.Join(s.Reporters, ", "),
		s.Earliest.UTC().Format("2006-01-02"), s.Latest.UTC().Format("2006-01-02"))
	if s.Unauth > 0 {
		fmt.Fprintf(w, "  (%d of them arrived in messages that did not pass DMARC here: they may be forged)\n", s.Unauth)
	}
	fmt.Fprintf(w, "%d messages sent as %s: %d pass (%s), %d fail; policy %s\n\n", s.Messages, s.Domain, s.Pass, pct(s.Pass, s.Messages), s.Fail,
		strings.Join(s.Policies, ", "))
	fmt.Fprintf(w, "%-40s %8s %6s %6s  %s\n", "source (reverse DNS not looked up)", "messages", "pass", "fail", "DKIM, SPF aligned; header from; disposition; reported by")
	for _, src := range s.Sources {
		fmt.Fprintf(w, "%-40s %8d %6d %6d  dkim %d, spf %d; %s; %s; %s\n", src.IP, src.Messages, src.Pass, src.Fail, src.DKIMPass, src.SPFPass,
			strings.Join(src.HeaderFrom, " "), strings.Join(src.Dispositions, " "), strings.Join(src.Reporters, ", "))
		if len(src.DKIMDomains) > 0 {
			fmt.Fprintf(w, "%-40s signatures: %s\n", "", strings.Join(src.DKIMDomains, ", "))
		}
	}
	failing := 0
	for _, src := range s.Sources {
		if src.Fail > 0 {
			failing++
		}
	}
	if failing > 0 {
		fmt.Fprintf(w, "\n%d sources send mail as %s that fails DMARC: if they are yours, add them to the SPF record or sign their mail with DKIM (ebb dns check %s); if not, someone else sends as %s.\n",
			failing, s.Domain, s.Domain, s.Domain)
	}
}

// TLSSummary is what the TLS reports received about one domain say: how
// the sessions of other senders with its MX hosts went (ebb tlsrpt
// report).
type TLSSummary struct {
	Domain    string        `json:"domain"`
	Since     time.Time     `json:"since"`
	Reports   int           `json:"reports"`
	Reporters []string      `json:"reporters"`
	Success   int64         `json:"successful_sessions"`
	Failure   int64         `json:"failed_sessions"`
	Policies  []string      `json:"policies"`
	Failures  []TLSFailure  `json:"failures"`
	Unauth    int           `json:"unauthenticated_reports"`
	ByReport  []TLSByReport `json:"by_report"`
}

// TLSFailure is one kind of failure and how many sessions had it.
type TLSFailure struct {
	Result    string   `json:"result_type"`
	MXHost    string   `json:"receiving_mx_hostname,omitempty"`
	IP        string   `json:"receiving_ip,omitempty"`
	Sessions  int64    `json:"sessions"`
	Reporters []string `json:"reporters"`
	Detail    string   `json:"additional_information,omitempty"`
}

// TLSByReport is one report, in a line.
type TLSByReport struct {
	Reporter      string    `json:"reporter"`
	ReportID      string    `json:"report_id"`
	Begin         time.Time `json:"begin"`
	End           time.Time `json:"end"`
	Success       int64     `json:"successful_sessions"`
	Failure       int64     `json:"failed_sessions"`
	Authenticated bool      `json:"authenticated"`
}

// tally counts r among a summary's reports, its unauthenticated ones and
// its reporters.
func tally(r Received, reports, unauth *int, reporters map[string]bool) {
	*reports++
	if !r.Authenticated {
		*unauth++
	}
	reporters[r.Reporter] = true
}

// SummariseTLS folds the received TLS reports about domain.
func SummariseTLS(domain string, since time.Time, rs []Received) *TLSSummary {
	s := &TLSSummary{Domain: domain, Since: since, Failures: []TLSFailure{}}
	reporters, policies := map[string]bool{}, map[string]bool{}
	idx := map[string]int{}
	rep := map[string]map[string]bool{}
	for _, r := range rs {
		t := r.TLS
		if t == nil {
			continue
		}
		tally(r, &s.Reports, &s.Unauth, reporters)
		ok, bad := t.Totals()
		s.Success += ok
		s.Failure += bad
		s.ByReport = append(s.ByReport, TLSByReport{Reporter: r.Reporter, ReportID: r.ReportID, Begin: r.Begin, End: r.End,
			Success: ok, Failure: bad, Authenticated: r.Authenticated})
		for _, p := range t.Policies {
			policies[p.Policy.Type] = true
			for _, fd := range p.FailureDetails {
				k := fd.ResultType + "\x00" + fd.ReceivingMXHostname + "\x00" + fd.ReceivingIP
				i, found := idx[k]
				if !found {
					i = len(s.Failures)
					idx[k] = i
					rep[k] = map[string]bool{}
					s.Failures = append(s.Failures, TLSFailure{Result: fd.ResultType, MXHost: fd.ReceivingMXHostname, IP: fd.ReceivingIP,
						Detail: fd.AdditionalInformation})
				}
				s.Failures[i].Sessions += fd.FailedSessionCount
				rep[k][r.Reporter] = true
			}
		}
	}
	for k, i := range idx {
		s.Failures[i].Reporters = keys(toCount(rep[k]), false)
	}
	sort.Slice(s.Failures, func(i, j int) bool { return s.Failures[i].Sessions > s.Failures[j].Sessions })
	s.Reporters = keys(toCount(reporters), false)
	s.Policies = keys(toCount(policies), false)
	return s
}

// WriteTLS prints a TLS summary for people.
func WriteTLS(w io.Writer, s *TLSSummary) {
	if s.Reports == 0 {
		fmt.Fprintf(w, "No TLS reports about %s since %s.\n", s.Domain, s.Since.Format("2006-01-02"))
		fmt.Fprintf(w, "Senders send them to the rua of _smtp._tls.%s (ebb dns check %s shows it) when that address is a mailbox here.\n", s.Domain, s.Domain)
		return
	}
	fmt.Fprintf(w, "TLS reports about %s: %d from %s (policies seen: %s)\n", s.Domain, s.Reports, strings.Join(s.Reporters, ", "), strings.Join(s.Policies, ", "))
	if s.Unauth > 0 {
		fmt.Fprintf(w, "  (%d of them arrived in messages that did not pass DMARC here: they may be forged)\n", s.Unauth)
	}
	fmt.Fprintf(w, "%d sessions succeeded, %d failed\n", s.Success, s.Failure)
	for _, f := range s.Failures {
		where := f.MXHost
		if f.IP != "" {
			where += "[" + f.IP + "]"
		}
		fmt.Fprintf(w, "  %d × %s at %s (reported by %s)", f.Sessions, f.Result, strings.TrimSpace(where), strings.Join(f.Reporters, ", "))
		if f.Detail != "" {
			fmt.Fprintf(w, ": %s", f.Detail)
		}
		fmt.Fprintln(w)
	}
	for _, b := range s.ByReport {
		auth := ""
		if !b.Authenticated {
			auth = " (unauthenticated)"
		}
		fmt.Fprintf(w, "  %s %s..%s: %d ok, %d failed%s\n", b.Reporter, b.Begin.UTC().Format(time.RFC3339), b.End.UTC().Format(time.RFC3339), b.Success, b.Failure, auth)
	}
}

// WriteSent prints the log of sent reports.
func WriteSent(w io.Writer, sent []Sent) {
	if len(sent) == 0 {
		fmt.Fprintln(w, "No reports sent yet.")
		return
	}
	for _, x := range sent {
		fmt.Fprintf(w, "%s  %-5s %-30s %s  %-7s %s\n", x.At.UTC().Format("2006-01-02 15:04"), x.Kind, x.Domain, x.Day, x.State, x.Detail)
	}
}
