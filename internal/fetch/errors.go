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
	"github.com/ebbmail/ebb/internal/directory"
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
	hint  string
	perm  bool
	// soft: the pass took what it could and goes on with the account's
	// other folders; the failure is reported at its end.
	soft bool
}

func (e *failure) Error() string { return e.doing + ": " + e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

func fail(cause, doing string, err error, hint string) *failure {
	return &failure{cause: cause, doing: doing, err: err, hint: hint}
}

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
func where(a *directory.FetchAccount) string {
	return net.JoinHostPort(a.Host, fmt.Sprint(a.Port))
}

// asDiag turns any error of a pass into the boundary error that names the
// real cause and how to fix it.
func asDiag(err error, a *directory.FetchAccount) *diag.Error {
	var f *failure
	if errors.As(err, &f) {
		de := diag.New(f.cause, f.doing, "", f.err)
		de.Component, de.Hint = Component+" "+a.Name, f.hint
		if !strings.Contains(f.doing, where(a)) {
			de.Doing = f.doing + " (server " + where(a) + ")"
		}
		de.Class = diag.Temporary
		if f.perm {
			de.Class = diag.Permanent
		}
		// A local error (queue, directory) keeps its own path and hint.
		if inner, ok := diag.As(f.err); ok {
			c := *inner
			c.Hint = "" // said once, in the hint below
			de.Reason = c.Error()
			if de.Hint == "" {
				de.Hint = inner.Hint
			}
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
func netDiag(err error, a *directory.FetchAccount, doing string) *diag.Error {
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
		de.Hint = "check the server name (ebb fetch add --server) and this machine's resolver (/etc/resolv.conf)"
	case errors.Is(err, syscall.ECONNREFUSED):
		de.Op, de.Doing = CauseConnect, "connect to"
		de.Reason = "connection refused (nothing listens on that port)"
		de.Hint = "check the port (IMAPS 993, IMAP 143, POP3S 995, POP3 110) and that the server runs"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		de.Op, de.Doing = CauseConnect, "connect to"
		de.Hint = "check the network route to the server"
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid):
		de.Op, de.Doing = CauseTLS, "verify the TLS certificate of"
		de.Reason = certReason(err)
		de.Hint = "if the server's certificate comes from a private CA, give that CA with ebb fetch add --ca-file FILE; if the name is wrong, use the name the certificate is for"
		if a.CAFile != "" {
			de.Hint = "the certificate does not verify against --ca-file " + a.CAFile + ": give the CA that signed it"
		}
	case errors.As(err, &recordErr):
		de.Op, de.Doing = CauseTLS, "start TLS with"
		de.Reason = "the server does not speak TLS on this port (" + err.Error() + ")"
		de.Hint = "use --tls starttls for ports 143/110, --tls implicit for 993/995"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		de.Op, de.Doing = CauseTimeout, "get an answer from"
		de.Reason = "no answer within fetch.timeout"
		de.Hint = "the server is slow or hangs; it is retried with backoff (fetch.timeout, fetch.backoff_max)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		strings.Contains(err.Error(), "use of closed network connection"):
		de.Op, de.Doing = CauseServer, "keep the connection to"
		de.Reason = "the server closed the connection (" + err.Error() + ")"
		de.Hint = "the server stopped or dropped the session; nothing is lost: what was not recorded is fetched again at the next attempt"
	}
	return de
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
