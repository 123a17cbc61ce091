package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// The report of `ebb scan MESSAGE`: each scanner's verdict with its score
// and symbols, and the SMTP answer the policy would give — the tool for
// "why was this refused?".

// Reply is the SMTP answer the policy gives for the report: 250 and "would
// be queued", or the refusal with the scanner that decided.
func (r *Report) Reply() (code int, text string) {
	v := r.Verdict
	if !v.Refused() {
		return 250, "2.0.0 Ok: would be queued"
	}
	return v.Code, fmt.Sprintf("%d.%d.%d %s (decided by %s)", v.Enhanced[0], v.Enhanced[1], v.Enhanced[2], v.Text, v.By)
}

// WriteText writes the report for people: a line per scanner, the SMTP
// answer, and the header an accepted message gets.
func (r *Report) WriteText(w io.Writer) {
	for _, x := range r.Results {
		fmt.Fprintf(w, "%-8s %s", x.Scanner, x.Status)
		switch x.Status {
		case Ham, IsSpam:
			fmt.Fprintf(w, " score %.1f / %.1f", x.Score, x.Required)
		case Infected:
			fmt.Fprintf(w, " %s", x.Virus)
		}
		if x.Action != "" {
			fmt.Fprintf(w, " action %q", x.Action)
		}
		if x.Detail != "" {
			fmt.Fprintf(w, " (%s)", x.Detail)
		}
		fmt.Fprintf(w, " in %.3fs\n", x.Took.Seconds())
		if len(x.Symbols) > 0 {
			fmt.Fprintf(w, "         symbols: %s\n", strings.Join(x.Symbols, ", "))
		}
		if x.Err != nil {
			fmt.Fprintf(w, "         error: %v\n", x.Err)
		}
	}
	code, text := r.Reply()
	fmt.Fprintf(w, "SMTP: %d %s\n", code, text)
	if r.Verdict.Hold != "" {
		fmt.Fprintf(w, "held in the queue: %s\n", r.Verdict.Hold)
	}
	if !r.Verdict.Refused() {
		fmt.Fprintf(w, "header added:\n%s", strings.ReplaceAll(r.Header(), "\r\n", "\n"))
	}
}

// jsonResult is one scanner's result in the JSON report.
type jsonResult struct {
	Scanner  string   `json:"scanner"`
	Status   string   `json:"status"`
	Score    float64  `json:"score,omitempty"`
	Required float64  `json:"required,omitempty"`
	Symbols  []string `json:"symbols,omitempty"`
	Virus    string   `json:"virus,omitempty"`
	Action   string   `json:"action,omitempty"`
	Cause    string   `json:"cause,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	Error    string   `json:"error,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// WriteJSON writes the report as indented JSON (docs/scan.md).
func (r *Report) WriteJSON(w io.Writer) error {
	code, text := r.Reply()
	out := struct {
		Results []jsonResult `json:"results"`
		Code    int          `json:"smtp_code"`
		Reply   string       `json:"smtp_reply"`
		Hold    string       `json:"hold,omitempty"`
		Header  string       `json:"header,omitempty"`
	}{Code: code, Reply: text, Hold: r.Verdict.Hold}
	for _, x := range r.Results {
		j := jsonResult{Scanner: x.Scanner, Status: string(x.Status), Score: x.Score, Required: x.Required, Symbols: x.Symbols,
			Virus: x.Virus, Action: x.Action, Cause: x.Cause, Detail: x.Detail, Seconds: x.Took.Seconds()}
		if x.Err != nil {
			j.Error = x.Err.Error()
		}
		out.Results = append(out.Results, j)
	}
	if !r.Verdict.Refused() {
		out.Header = r.Header()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteSpamdReports writes spamd's REPORT of m for each spamd among
// entries: every rule that hit, with its points and description.
func WriteSpamdReports(ctx context.Context, w io.Writer, entries []Entry, m *Message) {
	for _, en := range entries {
		sd, ok := en.Scanner.(*Spamd)
		if !ok {
			continue
		}
		text, err := sd.Report(ctx, m)
		if err != nil {
			fmt.Fprintf(w, "spamd report: %v\n", err)
			continue
		}
		fmt.Fprintf(w, "spamd report:\n%s\n", strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"))
	}
}
