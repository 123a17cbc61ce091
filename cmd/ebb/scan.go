package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/scan"
)

// runScan is `ebb scan FILE`: the message in FILE through the configured
// scanners, each verdict with its score and symbols, and what the policy
// would answer over SMTP — the tool for "why was this refused?". Exit 0
// when the message would be accepted, 1 when refused or deferred.
func runScan(e *env) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("c", "", "config file (default /etc/ebb/ebb.toml)")
	from := fs.String("from", "", "the envelope sender to give the scanners")
	var to multiFlag
	fs.Var(&to, "to", "an envelope recipient (repeatable)")
	ip := fs.String("ip", "", "the client address to give the scanners")
	helo := fs.String("helo", "", "the client's HELO name")
	auth := fs.String("auth", "", "scan as an authenticated submission by this login (scan.submission decides)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	report := fs.Bool("report", false, "also print spamd's REPORT: every rule that hit, with its points and description")
	if err := fs.Parse(e.args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: ebb scan [-c FILE] [--from ADDR] [--to ADDR]... [--ip IP] [--helo NAME] [--auth LOGIN] [--json] [--report] MESSAGE")
		return diag.ExUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return diag.ExConfig
	}
	path, _ := filepath.Abs(fs.Arg(0))
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintln(e.stderr, diag.PathError("ebb scan", "open", "read the message", path, err, nil).Sentence())
		return diag.ExNoInput
	}
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	entries, err := scan.FromConfig(cfg, host)
	if err != nil {
		fmt.Fprintln(e.stderr, "ebb scan:", err)
		return diag.ExConfig
	}
	if len(entries) == 0 {
		fmt.Fprintln(e.stderr, "ebb scan: no scanner is configured (scan.clamd.address, scan.spamd.address, scan.rspamd.address, scan.milter.addresses)")
		return diag.ExConfig
	}
	if len(to) == 0 {
		// Milters expect at least one RCPT before the header (a
		// transaction without one is not SMTP).
		to = multiFlag{"postmaster@" + host}
	}
	o := scan.OptionsFromConfig(cfg, nil, slog.New(slog.DiscardHandler))
	o.BreakerFailures = 0
	eng := scan.New(entries, o)
	msg := &scan.Message{Path: path, From: *from, Rcpts: to, IP: *ip, Helo: *helo, User: *auth}
	rep := eng.Scan(e.ctx, msg, scan.SelectFor(cfg, *auth != ""))
	code, text := 250, "2.0.0 Ok: would be queued"
	v := rep.Verdict
	if v.Refused() {
		code = v.Code
		text = fmt.Sprintf("%d.%d.%d %s (decided by %s)", v.Enhanced[0], v.Enhanced[1], v.Enhanced[2], v.Text, v.By)
	}
	if *asJSON {
		type res struct {
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
		out := struct {
			Results []res  `json:"results"`
			Code    int    `json:"smtp_code"`
			Reply   string `json:"smtp_reply"`
			Hold    string `json:"hold,omitempty"`
			Header  string `json:"header,omitempty"`
		}{Code: code, Reply: text, Hold: v.Hold}
		for _, r := range rep.Results {
			x := res{Scanner: r.Scanner, Status: string(r.Status), Score: r.Score, Required: r.Required, Symbols: r.Symbols,
				Virus: r.Virus, Action: r.Action, Cause: r.Cause, Detail: r.Detail, Seconds: r.Took.Seconds()}
			if r.Err != nil {
				x.Error = r.Err.Error()
			}
			out.Results = append(out.Results, x)
		}
		if !v.Refused() {
			out.Header = rep.Header()
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		for _, r := range rep.Results {
			fmt.Fprintf(e.stdout, "%-8s %s", r.Scanner, r.Status)
			switch r.Status {
			case scan.Ham, scan.IsSpam:
				fmt.Fprintf(e.stdout, " score %.1f / %.1f", r.Score, r.Required)
			case scan.Infected:
				fmt.Fprintf(e.stdout, " %s", r.Virus)
			}
			if r.Action != "" {
				fmt.Fprintf(e.stdout, " action %q", r.Action)
			}
			if r.Detail != "" {
				fmt.Fprintf(e.stdout, " (%s)", r.Detail)
			}
			fmt.Fprintf(e.stdout, " in %.3fs\n", r.Took.Seconds())
			if len(r.Symbols) > 0 {
				fmt.Fprintf(e.stdout, "         symbols: %s\n", strings.Join(r.Symbols, ", "))
			}
			if r.Err != nil {
				fmt.Fprintf(e.stdout, "         error: %v\n", r.Err)
			}
		}
		fmt.Fprintf(e.stdout, "SMTP: %d %s\n", code, text)
		if v.Hold != "" {
			fmt.Fprintf(e.stdout, "held in the queue: %s\n", v.Hold)
		}
		if !v.Refused() {
			fmt.Fprintf(e.stdout, "header added:\n%s", strings.ReplaceAll(rep.Header(), "\r\n", "\n"))
		}
		if *report {
			for _, en := range entries {
				if sd, ok := en.Scanner.(*scan.Spamd); ok {
					text, err := sd.Report(e.ctx, msg)
					if err != nil {
						fmt.Fprintf(e.stdout, "spamd report: %v\n", err)
						continue
					}
					fmt.Fprintf(e.stdout, "spamd report:\n%s\n", strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"))
				}
			}
		}
	}
	if v.Refused() {
		return 1
	}
	return 0
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
