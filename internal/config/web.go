package config

import (
	"fmt"
	"strings"
)

// Web is ebb's own HTTP(S) listener: what mail clients and other mail
// servers fetch from a mail host (internal/wellknown).
type Web struct {
	Listen     []string `toml:"listen" default:"" doc:"Addresses for HTTPS (host:port, usually :443): each hosted domain's MTA-STS policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, Thunderbird autoconfig, Outlook autodiscover, and ACME's tls-alpn-01. Certificates come from ACME (acme.enable). Empty: no HTTPS."`
	ListenHTTP []string `toml:"listen_http" default:"" doc:"Addresses for plain HTTP (usually :80): ACME's http-01 answers; every other request is redirected to HTTPS. Empty: no HTTP."`

	MTASTSMode   string   `toml:"mta_sts_mode" default:"testing" oneof:"off,none,testing,enforce" doc:"The mode of the MTA-STS policy served for every hosted domain (RFC 8461 §3.2): testing (senders report failures but deliver), enforce (senders deliver only over verified TLS to the listed MX), none (withdraw a policy), off (serve no policy). It takes effect for senders once the domain publishes _mta-sts.DOMAIN TXT \"v=STSv1; id=…\" (ebb dns check DOMAIN prints it; the id changes whenever the policy does)."`
	MTASTSMX     []string `toml:"mta_sts_mx" default:"" doc:"The MX names the policy allows (mx: lines; *.example.net matches one label). Empty: server.hostname."`
	MTASTSMaxAge Duration `toml:"mta_sts_max_age" default:"7d" min:"1s" doc:"How long senders may keep the policy (max_age, at most 365 days by RFC 8461 §3.2). Start short with testing; weeks once enforce is stable."`

	Autoconfig     bool   `toml:"autoconfig" default:"true" doc:"Serve Thunderbird's autoconfig (/.well-known/autoconfig/mail/config-v1.1.xml, and /mail/config-v1.1.xml on autoconfig.DOMAIN) and Outlook's autodiscover (POST /autodiscover/autodiscover.xml) for the hosted domains: IMAP from Dovecot and submission from ebb, the login being the whole address."`
	IMAPHost       string `toml:"imap_host" default:"" doc:"The IMAP server name clients are told (Dovecot, see ebb dovecot config). Empty: server.hostname."`
	IMAPPort       int    `toml:"imap_port" default:"993" min:"1" doc:"The IMAP port clients are told."`
	IMAPTLS        string `toml:"imap_tls" default:"tls" oneof:"tls,starttls" doc:"How clients reach IMAP: tls (implicit TLS, port 993, RFC 8314) or starttls (port 143)."`
	SubmissionHost string `toml:"submission_host" default:"" doc:"The submission server name clients are told. Empty: server.hostname. The port and TLS come from submission.listen_tls (implicit TLS, preferred by RFC 8314) or submission.listen (STARTTLS)."`
}

// checkWeb: the policy's max_age bound and its mx patterns.
func (c *Config) checkWeb() []Problem {
	var probs []Problem
	if c.Web.MTASTSMaxAge.Duration.Seconds() > 31557600 {
		probs = append(probs, Problem{Key: "web.mta_sts_max_age", Msg: "web.mta_sts_max_age: more than 31557600 seconds (a year), the most RFC 8461 §3.2 allows"})
	}
	for _, mx := range c.Web.MTASTSMX {
		m := strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(mx)), "."), "*.")
		if m == "" || strings.ContainsAny(m, " *:/@") || !strings.Contains(m, ".") {
			probs = append(probs, Problem{Key: "web.mta_sts_mx", Msg: fmt.Sprintf("web.mta_sts_mx: %q is not a host name or *.domain pattern", mx)})
		}
	}
	return probs
}
