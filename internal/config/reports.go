package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Reports are the aggregate reports ebb sends and reads: SMTP TLS
// Reporting (RFC 8460) about its outbound TLS sessions, and DMARC
// aggregate reports (RFC 7489 §7.2) about the mail it judged
// (internal/reports).
type Reports struct {
	Store string `toml:"store" default:"{data_dir}/reports.db" doc:"The SQLite file that keeps what the reports are made of (every outbound TLS session and every DMARC evaluation, counted per day), the reports received, and which were sent; owned by server.user."`

	TLSSend   bool   `toml:"tls_send" default:"true" doc:"Send a daily TLS report (RFC 8460) to every domain ebb relayed mail to that publishes a _smtp._tls TXT record with rua=: how many TLS sessions with its MX hosts succeeded and how each failure went (DANE, MTA-STS, STARTTLS, certificates)."`
	DMARCSend bool   `toml:"dmarc_send" default:"true" doc:"Send a daily DMARC aggregate report (RFC 7489 §7.2) to every domain whose mail ebb judged and whose DMARC record has rua=: the sending addresses, counts and verdicts. A rua address in another organisation's domain gets reports only when that domain authorises it (RFC 7489 §7.1)."`
	Receive   string `toml:"receive" default:"authenticated" oneof:"authenticated,all,off" doc:"Read the TLS and DMARC aggregate reports that arrive for the hosted domains (they are delivered to their mailbox as well) and keep them for ebb tlsrpt report and ebb dmarc report: authenticated keeps only those whose message passed DMARC here (a forged report cannot make up numbers), all keeps every one (marked unauthenticated), off reads none."`

	From        string   `toml:"from" default:"" doc:"The sender (From: and MAIL FROM) of the reports ebb sends by mail. It must be at a hosted domain with a DKIM key (ebb dkim keygen): RFC 8460 §5.3 asks TLS reports to be DKIM-signed, and receivers discard DMARC reports that fail DMARC. Empty: postmaster@ the domain of server.hostname (mx.example.org gives example.org)."`
	OrgName     string   `toml:"org_name" default:"" doc:"The organisation that reports (organization-name, org_name). Empty: the domain of reports.from."`
	Contact     string   `toml:"contact" default:"" doc:"How the reported domains reach you about a report (contact-info, extra_contact_info): an address or a URL. Empty: reports.from."`
	SendAfter   Duration `toml:"send_after" default:"1h" min:"0s" doc:"How long after the end of a UTC day its reports are sent (RFC 8460 §4.1 and RFC 7489 §7.2 report whole UTC days). ebb report send --now sends what is due at once."`
	Timeout     Duration `toml:"timeout" default:"60s" min:"1s" doc:"How long one HTTPS POST of a TLS report (rua=https:) may take."`
	CAFile      string   `toml:"ca_file" default:"" doc:"A PEM file of extra CA certificates trusted for rua=https: report hosts besides the system's (the tests' CA). Empty: the system's roots."`
	Retention   Duration `toml:"retention" default:"60d" min:"1d" doc:"How long recorded sessions and evaluations, the received reports and the log of sent reports are kept."`
	MaxReceived Size     `toml:"max_received_size" default:"10M" min:"1024" doc:"The largest report attachment read (after decompression); a larger one is not read (logged and counted), the message is still delivered."`
}

// ReportsStore is reports.store with {data_dir} expanded.
func (c *Config) ReportsStore() string {
	return strings.ReplaceAll(c.Reports.Store, "{data_dir}", c.Server.DataDir)
}

// ReportsFrom is reports.from, or postmaster@ the domain of
// server.hostname.
func (c *Config) ReportsFrom() string {
	if c.Reports.From != "" {
		return c.Reports.From
	}
	h := c.Server.Hostname
	if h == "" {
		// server.hostname's own default: the machine's host name.
		h, _ = os.Hostname()
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if _, d, ok := strings.Cut(h, "."); ok && strings.Contains(d, ".") {
		h = d
	}
	return "postmaster@" + h
}

// ReportsOrg is reports.org_name, or the domain of ReportsFrom.
func (c *Config) ReportsOrg() string {
	if c.Reports.OrgName != "" {
		return c.Reports.OrgName
	}
	_, d, _ := strings.Cut(c.ReportsFrom(), "@")
	return d
}

// ReportsContact is reports.contact, or ReportsFrom.
func (c *Config) ReportsContact() string {
	if c.Reports.Contact != "" {
		return c.Reports.Contact
	}
	return c.ReportsFrom()
}

func (c *Config) checkReports() []Problem {
	var probs []Problem
	if c.Reports.From != "" {
		if _, err := envaddr.Parse(c.Reports.From); err != nil {
			probs = append(probs, Problem{Key: "reports.from", Msg: fmt.Sprintf("reports.from: %q is not an address (local@domain)", c.Reports.From)})
		}
	}
	return probs
}
