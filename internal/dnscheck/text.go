package dnscheck

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/resolve"
)

// Report is one domain's records, for ebb dns check --json.
type Report struct {
	Domain  string   `json:"domain"`
	Records []Record `json:"records"`
}

// NeedsWork reports whether a record is missing or wrong (ebb dns check
// then exits 1); warnings, optional records not published and failed
// lookups do not count: a failed lookup is exit 75 at the command.
func (r Report) NeedsWork() bool {
	for _, x := range r.Records {
		if x.Status == Missing || x.Status == Wrong {
			return true
		}
	}
	return false
}

// CheckDomains checks every record of each domain (ebb dns check) and
// returns the reports and the command's exit code: 0, 1 when a record is
// missing or wrong, 75 when a lookup failed. A name that is no domain is
// an error, before anything is looked up.
func CheckDomains(ctx context.Context, o Options, domains []string) ([]Report, int, error) {
	names := make([]string, len(domains))
	for i, dom := range domains {
		n, err := resolve.NormalizeDomain(dom)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", dom, err)
		}
		names[i] = n
	}
	reports := []Report{}
	code := 0
	for _, n := range names {
		r := Report{Domain: n, Records: Check(ctx, o, n)}
		reports = append(reports, r)
		if r.NeedsWork() {
			code = max(code, 1)
		}
		for _, x := range r.Records {
			if x.Status == Error {
				code = diag.ExTempFail
			}
		}
	}
	return reports, code, nil
}

// WriteTexts prints the reports for people, a blank line between two.
func WriteTexts(w io.Writer, reports []Report) {
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		WriteText(w, r)
	}
}

// WriteText prints a report for people: one line per record, what is
// published, why it is not right, and the exact record to publish.
func WriteText(w io.Writer, r Report) {
	count := map[Status]int{}
	for _, x := range r.Records {
		count[x.Status]++
	}
	fmt.Fprintf(w, "%s: %d records: %d ok, %d missing, %d wrong, %d warnings, %d optional, %d not checked\n", r.Domain, len(r.Records),
		count[OK], count[Missing], count[Wrong], count[Warning], count[Info], count[Error])
	for _, x := range r.Records {
		fmt.Fprintf(w, "%-8s %-8s %s %s\n", strings.ToUpper(string(x.Status)), x.Kind, x.Name, x.Type)
		if len(x.Published) > 0 {
			fmt.Fprintf(w, "         published: %s\n", strings.Join(x.Published, " | "))
		}
		if x.Why != "" {
			fmt.Fprintf(w, "         %s\n", x.Why)
		}
		if x.Want != "" && x.Status != OK {
			for _, l := range strings.Split(x.Want, "\n") {
				fmt.Fprintf(w, "         publish: %s\n", l)
			}
		}
	}
}
