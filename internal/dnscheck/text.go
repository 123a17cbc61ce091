package dnscheck

import (
	"fmt"
	"io"
	"strings"
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
