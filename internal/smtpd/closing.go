package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// The refusals the engine makes on its own (RefusalHandler): the replies
// that close a connection — a client silent past the command or data
// timeout, a session at its longest time, too many unrecognised commands,
// a command line too long, the engine's own trouble, ebb serve stopping —
// a sender announcing a message over the size limit, and a recipient over
// the transaction's limit. Each carries a reference
// id, is logged with it and goes to the refusal observer (the journal), so
// that `ebb explain REF` tells a client what it was told (principle 1), as
// for the policies' refusals (refusal.go); refusals of one kind from one
// source within a minute share the first's ref, record and log line
// (flood.go).

// Refusing makes the session a RefusalHandler.
func (s *session) Refusing(stage, addr string, cause error, r *Reply) *Reply {
	if c := s.closeWith; c != nil && stage == "connection" && c.Code == r.Code {
		// The timeout of a message (abandoned): its reply, observed there.
		s.closeWith = nil
		return c
	}
	o := s.srv().opts()
	listener := "smtp" // every listener's limits, but the longest session (maxSessionSetting)
	var ne net.Error
	var why, hint, kind string
	switch {
	case stage == "mail":
		kind = "size"
		why = fmt.Sprintf("the client announced a message larger than the %d octets taken (SIZE=, %s.max_message_size)", o.MaxMessageBytes, listener)
		hint = "the sender must send a smaller message (or a link to the file); raise " + listener + ".max_message_size if such messages are wanted"
	case stage == "rcpt":
		kind = "max recipients"
		why = fmt.Sprintf("the transaction already has %d recipients, the most taken in one (%s.max_recipients)", o.MaxRecipients, listener)
		hint = "nothing to do on this side: the client sends the other recipients in another transaction; raise " + listener + ".max_recipients if one of your own programs cannot"
	case errors.As(cause, &ne) && ne.Timeout() && s.srv().stopping():
		kind = "shutdown"
		r = &Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Message: s.srv().hostname() + " Service shutting down, try again later"}
		why = "ebb serve is stopping (or restarting): an idle connection is closed"
		hint = "nothing to do: the client sends again later, to this host once ebb serve is back or to another MX"
	case errors.As(cause, &ne) && ne.Timeout() && sessionEnded(s.c.Conn):
		kind = "session time"
		why = fmt.Sprintf("the session reached its longest time (%s)", s.maxSessionSetting())
		hint = "nothing to do on this side: the client connects again; raise " + s.maxSessionSetting() + " if real clients need longer sessions"
	case errors.As(cause, &ne) && ne.Timeout():
		kind = "command timeout"
		why = fmt.Sprintf("the client sent no complete command within %s (%s.command_timeout)", o.CommandTimeout, listener)
		hint = "nothing to do on this side: an idle connection is closed; raise " + listener + ".command_timeout if a real client needs longer"
	case errors.Is(cause, errLineTooLongCmd):
		kind = "line too long"
		why = fmt.Sprintf("the client sent a command line longer than %d octets", maxLineLength)
		hint = "the client does not speak SMTP as RFC 5321 section 4.5.3.1 bounds it (or is not an SMTP client): look at what it sends"
	case r.Code == 421 && r.Enhanced == [3]int{4, 7, 0}:
		kind = "not commands"
		why = "the client sent too many commands that are none: " + cause.Error()
		hint = "the client does not speak SMTP (an HTTP request, a port scan, a misconfigured program): look at what it sends"
	default:
		kind = "engine"
		why = "the SMTP engine failed on this connection"
		if cause != nil {
			why += ": " + cause.Error()
		}
		hint = "a bug in ebb: report it with the log lines of this ref"
	}
	rep, ref := withRef(r)
	d := &diag.Error{Component: "ebb serve", Op: stage, Doing: "serve the SMTP client", Path: s.info.RemoteIP, Reason: why,
		SMTPCode: r.Code, Enhanced: r.Enhanced, Public: r.Message, Ref: ref, Class: diag.Temporary, Hint: hint}
	switch stage {
	case "mail":
		d.Doing, d.Path = "accept the sender", addr
	case "rcpt":
		d.Doing, d.Path = "accept the recipient", addr
	}
	if r.Code >= 500 {
		d.Class = diag.Permanent
	}
	from, to := s.from, []string(nil)
	switch stage {
	case "mail":
		from = addr
	case "rcpt":
		to = []string{addr}
	}
	rep, first := s.refused(stage, stage+" "+kind, from, rep, d, to, 0)
	if first {
		s.log.Info("smtp "+stage+" refused by the engine", "code", rep.Code, "reply", rep.Message, "reason", why, "ref", ref,
			"remote", s.info.RemoteIP)
	}
	return rep
}

// maxSessionSetting is the setting that bounds a session on s's listener:
// every listener's limits are smtp.*, but the longest session is
// submission's own on its listeners.
func (s *session) maxSessionSetting() string {
	if s.l.Kind != Inbound {
		return "submission.max_session_time"
	}
	return "smtp.max_session_time"
}

// sessionEnded says whether c is at the end its listener gives every
// session (BoundedListener's maxSession).
func sessionEnded(c net.Conn) bool {
	b, ok := c.(*boundedConn)
	return ok && !b.end.IsZero() && !time.Now().Before(b.end)
}

// refuseConn answers a connection over the limits (admit) with a 421 and
// a ref, observed like any refusal, and closes it. On an implicit-TLS
// listener (465) the 421 comes after the handshake, as every reply there.
func (l *listener) refuseConn(c net.Conn, ip, reason string) {
	defer c.Close()
	o := l.srv.opts()
	prefix := "smtp" // the limits of every listener
	msg := "Too many connections, try again later"
	why := fmt.Sprintf("%d %s open, the most taken (%s.max_connections)", o.MaxConnections, diag.Plural(o.MaxConnections, "connection"), prefix)
	hint := "nothing to do when this is a burst: the client connects again later; raise " + prefix + ".max_connections if it lasts"
	enh := [3]int{4, 7, 0}
	switch reason {
	case "per_ip":
		msg = "Too many connections from your address, try again later"
		why = fmt.Sprintf("the client's address (or its /64) has %d %s open, the most taken from one (%s.max_connections_per_ip)", o.MaxPerIP, diag.Plural(o.MaxPerIP, "connection"), prefix)
		hint = "nothing to do on this side unless the client is yours: then raise " + prefix + ".max_connections_per_ip"
	case "reserve":
		why = fmt.Sprintf("the last %d connection slots are kept for trusted networks, and the others are taken (%s.max_connections)", o.Reserved, prefix)
	case "shutdown":
		msg, enh = "Service shutting down, try again later", [3]int{4, 3, 2}
		why = "ebb serve is stopping (or restarting)"
		hint = "nothing to do: the client sends again later, to this host once ebb serve is back or to another MX"
	}
	rep, ref := withRef(&Reply{Code: 421, Enhanced: enh, Message: l.srv.hostname() + " " + msg})
	d := &diag.Error{Component: "ebb serve", Op: "connection", Doing: "admit the SMTP client", Path: ip, Reason: why,
		SMTPCode: rep.Code, Enhanced: rep.Enhanced, Public: rep.Message, Ref: ref, Class: diag.Temporary, Hint: hint}
	rep, first := l.srv.refusal("connection refused "+reason, Refusal{Stage: "connection", Code: rep.Code, Enhanced: rep.Enhanced,
		Text: rep.Message, Err: d, Kind: l.Kind, RemoteIP: ip}, rep)
	if first {
		l.srv.log.Warn("smtp connection refused", "listener", string(l.Kind), "remote", ip, "reason", reason, "ref", ref)
	}
	// Handshake and reply within refuseTime: a refused client holds no
	// more than that (the slot it was refused is not its own).
	c.SetDeadline(time.Now().Add(refuseTime))
	if l.ImplicitTLS {
		// On 465 the client reads nothing before TLS: the 421 in
		// plaintext would be garbage to it. Without a certificate (New
		// refuses that) it is closed without a word.
		cfg := l.srv.tlsConfig(l.TLS)
		if cfg == nil {
			return
		}
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			return // the refusal is journaled with its ref all the same
		}
		defer tc.Close() // close_notify after the 421
		c = tc
	}
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", rep.Code, rep.Enhanced[0], rep.Enhanced[1], rep.Enhanced[2], rep.Message)
}

// refuseTime bounds a refused connection: the TLS handshake of an
// implicit-TLS listener and the 421.
const refuseTime = 5 * time.Second
