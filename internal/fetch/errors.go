package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Causes: the Op of the diag error, the account's status Cause, the
// metrics label.
const (
	CauseDNS         = "dns"
	CauseConnect     = "connect"
	CauseTimeout     = "timeout"
	CauseTLS         = "tls"
	CauseLogin       = "login"
	CauseToken       = "token"         // the access token could not be had, or expired
	CauseRevoked     = "token-revoked" // the refresh token was revoked: consent must be renewed
	CauseFolder      = "folder"
	CauseUIDValidity = "uidvalidity"
	CauseLocal       = "local"    // our side: queue, disk, directory
	CauseQuota       = "quota"    // the local mailbox is full (mail.over_quota = temporary): messages wait on the server
	CauseMailbox     = "mailbox"  // the local mailbox cannot take mail (unknown, disabled)
	CauseServer      = "server"   // the server broke the protocol or the connection
	CauseInternal    = "internal" // a bug of ours (a panic): this account only
)

// failure is an error whose cause is known where it happened. doing is
// the phrase after "cannot"; the sentence adds the server (host:port)
// when doing does not name it.
type failure struct {
	cause string
	doing string
	err   error
	fix   *diag.Fix
	perm  bool
	// soft: the pass took what it could and goes on with the account's
	// other folders; the failure is reported at its end.
	soft bool
}

func (e *failure) Error() string { return e.doing + ": " + e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

func fail(cause, doing string, err error, fix *diag.Fix) *failure {
	return &failure{cause: cause, doing: doing, err: err, fix: fix}
}

// because is a fix that is only words: what happens next, nothing to run.
func because(why string) *diag.Fix { return diag.Because(why) }

// isSoft reports whether err lets the pass go on with other folders.
func isSoft(err error) bool {
	var f *failure
	return errors.As(err, &f) && f.soft
}

// causeOf is the cause of an error that has one where it happened.
func causeOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.cause
	}
	return ""
}

// where is host:port of the account.
func where(a *fetchstate.FetchAccount) string {
	return net.JoinHostPort(a.Host, fmt.Sprint(a.Port))
}

// asDiag turns any error of a pass into the boundary error that names the
// real cause and how to fix it.
func asDiag(err error, a *fetchstate.FetchAccount) *diag.Error {
	var f *failure
	if errors.As(err, &f) {
		de := diag.New(f.cause, f.doing, "", f.err)
		de.Component = Component + " " + a.Name
		if !strings.Contains(f.doing, where(a)) {
			de.Doing = f.doing + " (server " + where(a) + ")"
		}
		de.Class = diag.Temporary
		if f.perm {
			de.Class = diag.Permanent
		}
		fix := f.fix
		// A local error (queue, directory) keeps its own path and fix.
		if inner, ok := diag.As(f.err); ok {
			c := *inner
			c.Hint, c.Fix = "", nil // said once, in the fix below
			de.Reason = c.Error()
			switch {
			case fix == nil && inner.Fix != nil:
				fix = inner.Fix
			case fix == nil && inner.Hint != "":
				fix = because(inner.Hint)
			case fix != nil && inner.Fix != nil && len(fix.Steps) == 0:
				// Our words first, then the inner error's own steps.
				g := *inner.Fix
				if g.Why != "" {
					g.Why = fix.Why + "; " + g.Why
				} else {
					g.Why = fix.Why
				}
				fix = &g
			}
		}
		if fix != nil {
			de.SetFix(fix)
		}
		return de
	}
	if de, ok := diag.As(err); ok {
		out := *de
		out.Op, out.Component = CauseLocal, Component+" "+a.Name+" ("+where(a)+")"
		return &out
	}
	return netDiag(err, a, "fetch from")
}

// netDiag classifies a network, TLS or protocol error.
func netDiag(err error, a *fetchstate.FetchAccount, doing string) *diag.Error {
	addr := where(a)
	de := diag.New(CauseServer, doing, addr, err)
	de.Component, de.Class = Component+" "+a.Name, diag.Temporary
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		de.Op, de.Doing, de.Path = CauseDNS, "resolve the server name", a.Host
		de.SetCause(dnsErr)
		de.SetFix(diag.Because("check the name "+a.Host+" (a typo?) and this machine's resolver (/etc/resolv.conf)",
			setServerStep(a, "HOST:PORT")))
	case errors.Is(err, syscall.ECONNREFUSED):
		de.Op, de.Doing = CauseConnect, "connect to"
		de.Reason = "connection refused (nothing listens on that port)"
		de.SetFix(diag.Because(fmt.Sprintf("check that the server runs and the port: %s takes %d", describeMode(a), DefaultPort(a.Protocol, a.TLS)),
			setServerStep(a, fmt.Sprintf("%s:%d", a.Host, DefaultPort(a.Protocol, a.TLS)))))
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		de.Op, de.Doing = CauseConnect, "connect to"
		de.SetFix(because("check the network route from this machine to " + a.Host))
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid):
		de.Op, de.Doing = CauseTLS, "verify the TLS certificate of"
		de.Reason = certReason(err)
		de.SetFix(certFix(a, err))
	case errors.As(err, &recordErr):
		de.Op, de.Doing = CauseTLS, "start TLS with"
		de.Reason = "the server does not speak TLS on this port (" + err.Error() + ")"
		de.SetFix(diag.Because("this port speaks "+a.Protocol+" in the clear: ask for STARTTLS on it",
			diag.Command("ebb", "fetch", "set", a.Name, "--tls", "starttls")))
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		de.Op, de.Doing = CauseTimeout, "get an answer from"
		de.Reason = "no answer within fetch.timeout"
		de.SetFix(because("the server is slow or hangs; the account is tried again with backoff (fetch.timeout, fetch.backoff_max), and no other account waits for it"))
	case errors.Is(err, net.ErrClosed), strings.Contains(err.Error(), "use of closed network connection"):
		// Our side's socket was closed: by go-imap when its reader saw
		// the server go, or by ebb after an error of its own (a bound
		// already explains itself, see imapConn.explain).
		de.Op, de.Doing = CauseServer, "keep the connection to"
		de.Reason = "the connection is closed (" + err.Error() + "): the server ended it, or ebb did after an earlier error of this session"
		de.SetFix(because("the log has any earlier error; nothing is lost: what was not recorded is fetched again at the next attempt"))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		de.Op, de.Doing = CauseServer, "keep the connection to"
		de.Reason = "the server closed the connection (" + err.Error() + ")"
		de.SetFix(because("the server stopped or dropped the session; nothing is lost: what was not recorded is fetched again at the next attempt"))
	}
	return de
}

// describeMode is "IMAPS (--tls implicit)", "POP3 with STLS (--tls
// starttls)".
func describeMode(a *fetchstate.FetchAccount) string {
	mode := a.TLS
	if mode != "implicit" && mode != "starttls" {
		mode = "none"
	}
	return transport(a) + " (--tls " + mode + ")"
}

// setServerStep is the command that points the account at another server
// address, keeping what it fetched.
func setServerStep(a *fetchstate.FetchAccount, server string) diag.Step {
	return diag.Command("ebb", "fetch", "set", a.Name, "--server", server)
}

// certFix is what to do about a certificate that does not verify, by its
// real cause: a name the certificate does not hold (issue 21: not "give
// the CA"), a CA that is not trusted, or a certificate out of its dates.
func certFix(a *fetchstate.FetchAccount, err error) *diag.Fix {
	var hostErr x509.HostnameError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostErr) && hostErr.Certificate != nil:
		names := certNames(hostErr.Certificate)
		why := fmt.Sprintf("the certificate holds %s, not %s (the name the account connects to); the CA is not the trouble", strings.Join(names, ", "), a.Host)
		if len(names) == 0 {
			return because(why + ": ask the server's administrator for a certificate with its name")
		}
		return diag.Because(why+": connect by a name it holds", setServerStep(a, net.JoinHostPort(names[0], fmt.Sprint(a.Port))))
	case errors.As(err, &unknownCA):
		issuer := "its issuer"
		if unknownCA.Cert != nil {
			issuer = fmt.Sprintf("%q", unknownCA.Cert.Issuer.String())
		}
		why := "the server's certificate is signed by " + issuer + ", a CA this machine does not trust"
		if a.CAFile != "" {
			why = "the server's certificate is signed by " + issuer + ", not by the CA in --ca-file " + a.CAFile
		}
		return diag.Because(why, diag.Say("save the certificate of "+issuer+" (from the server's administrator) as a PEM file"),
			diag.Say("run: ebb fetch set "+a.Name+" --ca-file THAT-FILE"))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return because("the server's certificate is out of its dates (see above): its administrator must renew it, or this machine's clock is wrong")
	}
	return because("the server's administrator must give it a certificate that verifies")
}

// certNames are the names a certificate is valid for.
func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// certReason says which certificate failed and why, in words.
func certReason(err error) string {
	var certErr *tls.CertificateVerificationError
	subject := ""
	if errors.As(err, &certErr) && len(certErr.UnverifiedCertificates) > 0 {
		c := certErr.UnverifiedCertificates[0]
		subject = fmt.Sprintf("the certificate for %q (issuer %q", c.Subject.String(), c.Issuer.String())
		if len(c.DNSNames) > 0 || len(c.IPAddresses) > 0 {
			var names []string
			names = append(names, c.DNSNames...)
			for _, ip := range c.IPAddresses {
				names = append(names, ip.String())
			}
			subject += ", names " + strings.Join(names, " ")
		}
		subject += fmt.Sprintf(", valid %s to %s)", c.NotBefore.Format("2006-01-02"), c.NotAfter.Format("2006-01-02"))
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	why := err.Error()
	switch {
	case errors.As(err, &unknownCA):
		why = "it is signed by an unknown authority"
		if unknownCA.Cert != nil && unknownCA.Cert.Issuer.String() == unknownCA.Cert.Subject.String() {
			why = "it is self-signed and not trusted"
		}
	case errors.As(err, &hostErr):
		why = "it is not valid for the name " + hostErr.Host
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			why = "it has expired or is not yet valid"
		default:
			why = invalid.Error()
		}
	}
	if subject == "" {
		return why
	}
	return subject + " is refused: " + why
}
