package acme

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
)

// stageError is a failure at one stage of an order, for one name.
type stageError struct {
	stage, name, challenge string
	err                    error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// obtain orders a certificate for e and stores it, or records why not.
func (m *Manager) obtain(ctx context.Context, e *entry) {
	m.mu.Lock()
	names := slices.Clone(e.names)
	first := names[0]
	var next State
	if e.state != nil {
		next = *e.state
	}
	retries := m.retries
	m.mu.Unlock()

	now := m.o.Now()
	ctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
	defer cancel()
	m.log.Info("acme: ordering a certificate", "names", strings.Join(names, ","), "ca", m.o.DirectoryURL)
	next.Names, next.LastAttempt = names, now
	cert, keyNote, keyWhy, err := m.order(ctx, names, e)
	if err != nil {
		f := m.failure(err, names)
		next.Failures++
		next.LastError = f
		next.NextAttempt = now.Add(m.backoff(next.Failures))
		m.stats.order("failed")
		de := m.diagError(f, first)
		m.log.Error("acme: no certificate", "names", strings.Join(names, ","), "failures", next.Failures,
			"retry_at", next.NextAttempt.Format("2006-01-02 15:04:05"), "diag", de)
	} else {
		next.Failures, next.LastError, next.NextAttempt = 0, nil, time.Time{}
		next.NotBefore, next.NotAfter, next.Issued = cert.Leaf.NotBefore, cert.Leaf.NotAfter, now
		next.RenewAt = m.renewAt(cert.Leaf.NotBefore, cert.Leaf.NotAfter)
		next.Key, next.KeyWhy = keyNote, keyWhy
		m.stats.order("issued")
		m.log.Info("acme: certificate stored", "names", strings.Join(names, ","), "not_after", cert.Leaf.NotAfter.Format("2006-01-02 15:04:05"),
			"renew_at", next.RenewAt.Format("2006-01-02"), "key", keyNote, "file", m.store.CertFile(first))
	}
	// One critical section: a RetryNow (SIGHUP) that came during this
	// order clears the backoff it set, never the other way round.
	m.mu.Lock()
	if m.retries != retries {
		next.NextAttempt = time.Time{}
	}
	e.state = &next
	if cert != nil {
		e.cert = cert
	}
	saved := next
	m.mu.Unlock()
	if werr := m.store.writeState(first, &saved); werr != nil {
		m.log.Error("acme: cannot store the certificate's state", "file", m.store.statePath(first), "err", werr.Error())
	}
	if cert != nil && m.o.Issued != nil {
		m.o.Issued(first)
	}
}

// failure turns an order's error into what state.json keeps.
func (m *Manager) failure(err error, names []string) *Failure {
	f := &Failure{Time: m.o.Now(), Stage: "order", Message: err.Error(), Name: names[0]}
	challenge := ""
	var se *stageError
	if errors.As(err, &se) {
		f.Stage, challenge = se.stage, se.challenge
		if se.name != "" {
			f.Name = se.name
		}
	}
	f.Problem = problemOf(err)
	if f.Stage == "dns" {
		f.Hint = "publish an A/AAAA record (or a CNAME to this host) for " + f.Name + " in the public DNS: ebb dns check prints it; then reload ebb (kill -HUP) to try at once"
	} else if challenge == "dns-01" && f.Problem == nil {
		f.Hint = "acme.dns_update_server must accept RFC 2136 updates of the zone signed with the key acme.dns_update_key_name (the secret in acme.dns_update_key_file), e.g. BIND: update-policy { grant KEY name _acme-challenge." + f.Name + ". TXT; }; the server's answer is above"
	} else if f.Stage == "store" {
		f.Hint = "acme.dir must be writable by server.user: check it with ebb doctor"
	} else {
		f.Hint = problemHint(f.Problem, f.Name, challenge)
	}
	return f
}

// diagError is the boundary error of a failure, for the log.
func (m *Manager) diagError(f *Failure, first string) *diag.Error {
	what := errors.New(f.Message)
	if f.Problem != nil {
		what = errors.New("the CA said: " + f.Problem.String())
	}
	de := diag.New("acme", "obtain a certificate for "+f.Name+" from", m.o.DirectoryURL, what)
	de.Component, de.Class, de.Hint = "ebb serve", diag.Temporary, f.Hint
	return de
}

// order runs one ACME order for names and stores the certificate. It
// returns the certificate and which key it uses.
func (m *Manager) order(ctx context.Context, names []string, e *entry) (*tls.Certificate, string, string, error) {
	if err := m.precheck(ctx, names); err != nil {
		return nil, "", "", err
	}
	if err := m.register(ctx); err != nil {
		return nil, "", "", &stageError{stage: "account", err: err}
	}
	o, err := m.client.AuthorizeOrder(ctx, xacme.DomainIDs(names...))
	if err != nil {
		return nil, "", "", &stageError{stage: "order", err: err}
	}
	for _, u := range o.AuthzURLs {
		if err := m.authorize(ctx, u); err != nil {
			return nil, "", "", err
		}
	}
	if o, err = m.client.WaitOrder(ctx, o.URI); err != nil {
		return nil, "", "", &stageError{stage: "order", err: err}
	}
	key, keyNote, keyWhy, err := m.chooseKey(ctx, names, e)
	if err != nil {
		return nil, "", "", &stageError{stage: "store", err: err}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		return nil, "", "", &stageError{stage: "finalize", err: err}
	}
	der, _, err := m.client.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		return nil, "", "", &stageError{stage: "finalize", err: err}
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, "", "", &stageError{stage: "finalize", err: err}
	}
	if err := m.keep(names[0], der, key, keyNote); err != nil {
		return nil, "", "", &stageError{stage: "store", err: err}
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, keyNote, keyWhy, nil
}

// precheck: every name has an address (tls-alpn-01 and http-01 need one;
// the CA would fail the order and count it against its limits).
func (m *Manager) precheck(ctx context.Context, names []string) error {
	if m.o.Resolver == nil || !slices.ContainsFunc(m.o.Challenges, func(c string) bool { return c != "dns-01" }) {
		return nil
	}
	for _, n := range names {
		_, err := m.o.Resolver.LookupHost(ctx, n)
		if err == nil {
			continue
		}
		if dnsresolve.IsNotFound(err) {
			err = fmt.Errorf("%s has no A/AAAA record: the CA could not reach it", n)
		}
		return &stageError{stage: "dns", name: n, err: err}
	}
	return nil
}

// register makes sure the account exists (RFC 8555 §7.3); once per run.
func (m *Manager) register(ctx context.Context) error {
	m.mu.Lock()
	done := m.reg
	m.mu.Unlock()
	if done {
		return nil
	}
	acct := &xacme.Account{}
	if m.o.Email != "" {
		acct.Contact = []string{"mailto:" + m.o.Email}
	}
	_, err := m.client.Register(ctx, acct, xacme.AcceptTOS)
	if err != nil && !errors.Is(err, xacme.ErrAccountAlreadyExists) {
		return err
	}
	m.mu.Lock()
	m.reg = true
	m.mu.Unlock()
	return nil
}

// authorize satisfies one authorization with the first offered challenge
// of acme.challenges (RFC 8555 §7.5).
func (m *Manager) authorize(ctx context.Context, u string) error {
	z, err := m.client.GetAuthorization(ctx, u)
	if err != nil {
		return &stageError{stage: "challenge", err: err}
	}
	name := z.Identifier.Value
	if z.Status == xacme.StatusValid {
		return nil
	}
	var ch *xacme.Challenge
	for _, want := range m.o.Challenges {
		for _, c := range z.Challenges {
			if c.Type == want && (want != "dns-01" || m.o.DNS01 != nil) {
				ch = c
				break
			}
		}
		if ch != nil {
			break
		}
	}
	if ch == nil {
		var offered []string
		for _, c := range z.Challenges {
			offered = append(offered, c.Type)
		}
		return &stageError{stage: "challenge", name: name, err: fmt.Errorf("the CA offers %s for %s, none of acme.challenges (%s)",
			strings.Join(offered, ", "), name, strings.Join(m.o.Challenges, ", "))}
	}
	cleanup, err := m.prepare(ctx, name, ch)
	if err != nil {
		return &stageError{stage: "challenge", name: name, challenge: ch.Type, err: err}
	}
	defer cleanup()
	if _, err := m.client.Accept(ctx, ch); err != nil {
		return &stageError{stage: "challenge", name: name, challenge: ch.Type, err: err}
	}
	if _, err := m.client.WaitAuthorization(ctx, z.URI); err != nil {
		return &stageError{stage: "challenge", name: name, challenge: ch.Type, err: err}
	}
	return nil
}

// prepare makes ebb answer the challenge; the returned func withdraws it.
func (m *Manager) prepare(ctx context.Context, name string, ch *xacme.Challenge) (func(), error) {
	switch ch.Type {
	case "http-01":
		ka, err := m.client.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.http01[ch.Token] = ka
		m.mu.Unlock()
		return func() { m.mu.Lock(); delete(m.http01, ch.Token); m.mu.Unlock() }, nil
	case "tls-alpn-01":
		c, err := m.client.TLSALPN01ChallengeCert(ch.Token, name)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.alpn[name] = &c
		m.mu.Unlock()
		return func() { m.mu.Lock(); delete(m.alpn, name); m.mu.Unlock() }, nil
	case "dns-01":
		v, err := m.client.DNS01ChallengeRecord(ch.Token)
		if err != nil {
			return nil, err
		}
		if err := m.o.DNS01.Present(ctx, name, v); err != nil {
			return nil, fmt.Errorf("set the dns-01 TXT record _acme-challenge.%s: %w", name, err)
		}
		return func() {
			cctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
			defer cancel()
			if err := m.o.DNS01.CleanUp(cctx, name, v); err != nil {
				m.log.Warn("acme: cannot remove the dns-01 TXT record", "name", "_acme-challenge."+name, "err", err.Error())
			}
		}, nil
	}
	return nil, fmt.Errorf("challenge type %s is not supported", ch.Type)
}

// chooseKey picks the key of the new certificate: a new one at the first
// order; at a renewal the pre-made next key (so that a TLSA record for it
// could be published in time), unless KeepKey says a published TLSA record
// would break.
func (m *Manager) chooseKey(ctx context.Context, names []string, e *entry) (crypto.Signer, string, string, error) {
	first := names[0]
	cur, err := readKey(m.store.KeyFile(first))
	if errors.Is(err, os.ErrNotExist) {
		k, err := loadOrMakeKey(m.store.NextKeyFile(first), m.o.KeyType)
		return k, "new", "", err
	}
	if err != nil {
		return nil, "", "", err
	}
	next, err := loadOrMakeKey(m.store.NextKeyFile(first), m.o.KeyType)
	if err != nil {
		return nil, "", "", err
	}
	if m.o.KeepKey != nil {
		if keep, why := m.o.KeepKey(ctx, names, cur.Public(), next.Public()); keep {
			return cur, "kept", why, nil
		}
	}
	return next, "next", "", nil
}

// keep stores the certificate and its key: the key becomes key.pem and,
// when it was the next key, a new next key is made.
func (m *Manager) keep(first string, der [][]byte, key crypto.Signer, keyNote string) error {
	if err := mkdir(m.store.CertDir(first)); err != nil {
		return err
	}
	// The key first: a crash between the two leaves a pair that does
	// not load, which the next start orders again, never a certificate
	// whose key is lost.
	if err := writeKey(m.store.KeyFile(first), key); err != nil {
		return err
	}
	if err := writeCert(m.store.CertFile(first), der); err != nil {
		return err
	}
	if keyNote == "kept" {
		return nil
	}
	k, err := newKey(m.o.KeyType)
	if err != nil {
		return err
	}
	return writeKey(m.store.NextKeyFile(first), k)
}
