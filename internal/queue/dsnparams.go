package queue

import (
	"slices"
	"strings"
)

// RecipientDSN is what the client asked about DSNs for one recipient
// (RFC 3461 §4.1 NOTIFY, §4.2 ORCPT).
type RecipientDSN struct {
	// Notify is NEVER, or any of SUCCESS, FAILURE, DELAY (upper case).
	// Empty: the client did not say, and RFC 3461 §4.1 leaves it to us:
	// FAILURE and DELAY, as without DSN.
	Notify []string `json:"notify,omitempty"`
	// ORCPTType and ORCPT are the original recipient, decoded: type
	// "rfc822" or "utf-8" (RFC 6533) and the address. They are quoted in
	// the Original-Recipient field of the DSN (RFC 3464 §2.3.1).
	ORCPTType string `json:"orcpt_type,omitempty"`
	ORCPT     string `json:"orcpt,omitempty"`
}

// Notify values (RFC 3461 §4.1).
const (
	NotifyNever   = "NEVER"
	NotifySuccess = "SUCCESS"
	NotifyFailure = "FAILURE"
	NotifyDelay   = "DELAY"
)

// Wants reports whether the sender asked (or, without NOTIFY, gets by
// default) a DSN of that kind: NotifySuccess, NotifyFailure or NotifyDelay.
func (d RecipientDSN) Wants(kind string) bool {
	if len(d.Notify) == 0 {
		return kind == NotifyFailure || kind == NotifyDelay
	}
	for _, n := range d.Notify {
		if strings.EqualFold(n, kind) {
			return true
		}
	}
	return false
}

// DSNFor returns the DSN parameters of one recipient (zero when it gave
// none).
func (e *Envelope) DSNFor(addr string) RecipientDSN {
	return e.RcptDSN[addr]
}

// Handoff is what the remote transport records when a next hop accepted a
// recipient: which host took it and whether it also took our DSN request.
// RFC 3461 §5.2.2: when the next hop supports DSN, NOTIFY travels on and
// the success report comes from there; when it does not, we report
// "relayed" ourselves (if SUCCESS was asked).
type Handoff struct {
	Host string `json:"host,omitempty"`
	IP   string `json:"ip,omitempty"`
	// DSN: the next hop offered DSN and got NOTIFY/ORCPT with the RCPT.
	DSN bool `json:"dsn,omitempty"`
	// Reply is its reply to the end of data ("250 2.0.0 Ok: queued as X").
	Reply string `json:"reply,omitempty"`
	// TLS is the session's protocol and cipher ("TLSv1.3
	// TLS_AES_128_GCM_SHA256"), "none" in the clear; Policy the TLS policy
	// it met and how: DANE's matched record, MTA-STS, the admin's level,
	// opportunistic (the journal and the success DSN say it).
	TLS    string `json:"tls,omitempty"`
	Policy string `json:"tls_policy,omitempty"`
	// Unsigned says why the message left without a DKIM signature of
	// ours (a From: domain with no key), "" when signed or not ours to
	// sign (the journal says it).
	Unsigned string `json:"unsigned,omitempty"`
	// Expanded: the recipient was an alias that led to several addresses
	// (RFC 3461 §5.2.7.2): the success DSN says "expanded", and SUCCESS
	// was not passed on to them.
	Expanded bool `json:"expanded,omitempty"`
}

// Summary says where a relayed recipient went and how, for the journal
// (ebb explain): "relayed to mx.example.net[192.0.2.1] over TLSv1.3 …;
// TLS policy: DANE: …; not DKIM-signed: …; replied 250 …". "" when
// nothing was relayed (nil, or an alias's own record).
func (h *Handoff) Summary() string {
	if h == nil || h.Host == "" {
		return ""
	}
	s := "relayed to " + h.Host
	if h.IP != "" {
		s += "[" + h.IP + "]"
	}
	switch h.TLS {
	case "":
	case "none":
		s += " without TLS"
	default:
		s += " over " + h.TLS
	}
	if h.Policy != "" {
		s += "; TLS policy: " + h.Policy
	}
	if h.Unsigned != "" {
		s += "; not DKIM-signed: " + h.Unsigned
	}
	if h.Reply != "" {
		s += "; replied " + h.Reply
	}
	return s
}

// ParseDSNOptions reads DSN options given as sendmail's -N, -R and -V
// (RFC 3461 values, any case): notify "never" or a comma list of success,
// failure, delay, applied to every recipient; ret "full" or "hdrs"; an
// envid of printable ASCII. What is not valid is left out, as if not
// given (the defaults apply), rather than refusing the message.
func ParseDSNOptions(rcpts []string, notify, ret, envid string) (rcptDSN map[string]RecipientDSN, retOut, envidOut string) {
	var n []string
	valid := true
	for _, v := range strings.Split(notify, ",") {
		switch v = strings.ToUpper(strings.TrimSpace(v)); v {
		case NotifyNever, NotifySuccess, NotifyFailure, NotifyDelay:
			n = append(n, v)
		case "":
		default:
			valid = false
		}
	}
	if !valid || len(n) > 1 && slices.Contains(n, NotifyNever) {
		n = nil // a bad value, or NEVER not alone (RFC 3461 §4.1): as if not given
	}
	if len(n) > 0 {
		rcptDSN = make(map[string]RecipientDSN, len(rcpts))
		for _, r := range rcpts {
			rcptDSN[r] = RecipientDSN{Notify: n}
		}
	}
	if r := strings.ToUpper(strings.TrimSpace(ret)); r == "FULL" || r == "HDRS" {
		retOut = r
	}
	if len(envid) <= 100 && strings.IndexFunc(envid, func(c rune) bool { return c < 0x21 || c > 0x7e }) < 0 {
		envidOut = envid
	}
	return rcptDSN, retOut, envidOut
}
