package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/dane"
	"github.com/ebbmail/ebb/internal/mtasts"
)

// TLSResult is the outcome of one outbound TLS session with an MX host,
// or of a policy that could not be applied, as SMTP TLS Reporting counts
// them (RFC 8460 §4): the daemon keeps them per policy domain and day and
// sends them to the domain's rua.
type TLSResult struct {
	Time time.Time
	// Domain is the policy domain: the recipient domain (RFC 8460 §3).
	Domain string
	// Policy is tlsa, sts or no-policy-found (RFC 8460 §4.4); Strings its
	// policy-string (the TLSA records, the MTA-STS policy's lines) and
	// MXHost its mx-host (MTA-STS's mx patterns; the MX host for DANE).
	Policy  string
	Strings []string
	MXHost  []string
	// Result is "" for a successful session, else a result type of RFC
	// 8460 §4.3 (starttls-not-supported, certificate-host-mismatch,
	// certificate-expired, certificate-not-trusted, validation-failure,
	// tlsa-invalid, dnssec-invalid, sts-policy-fetch-error,
	// sts-policy-invalid, sts-webpki-invalid).
	Result        string
	SendingIP     string
	ReceivingHost string
	ReceivingIP   string
	Detail        string // additional-information: our words
}

// policyOf is the TLS-RPT policy of a session with a's host.
func policyOf(a *attempt) (typ string, strs, mx []string) {
	switch {
	case a.dane != nil:
		return "tlsa", a.dane.Strings(), []string{a.dane.Host}
	case a.sts != nil:
		return "sts", stsStrings(a.sts), a.sts.MX
	}
	return "no-policy-found", nil, nil
}

// stsStrings are the policy's lines as its file has them (RFC 8460 §4.4:
// the policy-string of an sts policy).
func stsStrings(p *mtasts.Policy) []string {
	out := []string{"version: STSv1", "mode: " + string(p.Mode)}
	for _, mx := range p.MX {
		out = append(out, "mx: "+mx)
	}
	return append(out, fmt.Sprintf("max_age: %d", int64(p.MaxAge/time.Second)))
}

// reportSession records the TLS of one session with c (err: why it
// failed at STARTTLS, nil: TLS is up), for TLS-RPT and the metrics.
// Sessions to a smarthost are not reported: TLS-RPT is about the
// recipient domain's MX hosts.
func (r *Relay) reportSession(a *attempt, c *conn, local string, err error) {
	typ, strs, mx := policyOf(a)
	res, detail := "", ""
	if err != nil {
		res, detail = tlsRPTResult(err)
	}
	r.stats.session(metricPolicy(typ), res)
	if r.report == nil || a.hop.Smarthost != "" {
		return
	}
	r.report(TLSResult{Time: r.now(), Domain: a.hop.Domain, Policy: typ, Strings: strs, MXHost: mx, Result: res,
		SendingIP: local, ReceivingHost: c.host, ReceivingIP: c.ip, Detail: detail})
}

// reportPolicyFailure records a policy that could not be applied (no
// session): a TLSA lookup that failed, an MTA-STS policy that could not be
// had, MX hosts an MTA-STS policy does not list.
func (r *Relay) reportPolicyFailure(a *attempt, typ, result, host, mx, detail string) {
	r.stats.session(metricPolicy(typ), result)
	if r.report == nil || a.hop.Smarthost != "" {
		return
	}
	t := TLSResult{Time: r.now(), Domain: a.hop.Domain, Policy: typ, Result: result, ReceivingHost: host, Detail: detail}
	if typ == "sts" && a.sts != nil {
		t.Strings, t.MXHost = stsStrings(a.sts), a.sts.MX
	}
	if host != "" && typ == "tlsa" {
		t.MXHost = []string{host}
	}
	r.report(t)
}

func metricPolicy(typ string) string {
	switch typ {
	case "tlsa":
		return "dane"
	case "sts":
		return "mta-sts"
	}
	return "none"
}

// tlsRPTResult classifies a failure at STARTTLS as RFC 8460 §4.3 does,
// with our own words for additional-information.
func tlsRPTResult(err error) (result, detail string) {
	detail = err.Error()
	var de *dane.Error
	var ns *noSTARTTLSError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var ue x509.UnknownAuthorityError
	var ve *tls.CertificateVerificationError
	var se *stepError
	switch {
	case errors.As(err, &de):
		return de.Result, detail
	case errors.As(err, &ns):
		return "starttls-not-supported", detail
	case errors.As(err, &se) && se.Step == stepSTARTTLS && se.Reply != nil:
		// STARTTLS offered, then refused.
		return "starttls-not-supported", detail
	case errors.As(err, &he):
		return "certificate-host-mismatch", detail
	case errors.As(err, &ie) && ie.Reason == x509.Expired:
		return "certificate-expired", detail
	case errors.As(err, &ue):
		return "certificate-not-trusted", detail
	case errors.As(err, &ve):
		if strings.Contains(ve.Error(), "expired") {
			return "certificate-expired", detail
		}
		return "certificate-not-trusted", detail
	}
	return "validation-failure", detail
}

// stsFetchResult classifies why an MTA-STS policy could not be had (RFC
// 8460 §4.3.2.2): the policy host's certificate, the policy's syntax, or
// fetching it at all.
func stsFetchResult(err error) string {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	s := err.Error()
	switch {
	case errors.As(err, &ue), errors.As(err, &he), errors.As(err, &ie), errors.As(err, &ve), strings.Contains(s, "x509:"):
		return "sts-webpki-invalid"
	case strings.Contains(s, "policy from "), strings.Contains(s, "Content-Type"):
		return "sts-policy-invalid"
	}
	return "sts-policy-fetch-error"
}
