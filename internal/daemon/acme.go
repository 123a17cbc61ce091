package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnscheck"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// acmeDomainsEvery is how often the hosted domains are read again for
// their certificates (ebb domain add runs in another process).
const acmeDomainsEvery = 5 * time.Minute

// acmeSTARTTLS: with ACME on and no smtp.tls_cert, STARTTLS and submission
// use the server's ACME certificate. Until the first one is stored, a
// self-signed provisional one (in memory) lets port 25 offer STARTTLS from
// the first start. Called before the listeners are built.
func (d *daemon) acmeSTARTTLS() error {
	if !d.cfg.ACME.Enable || d.cfg.SMTP.TLSCert != "" {
		return nil
	}
	c, err := acme.Provisional(acme.ServerNames(d.cfg))
	if err != nil {
		return err
	}
	d.certs = &smtpd.Certificates{}
	d.certs.Set(c)
	return nil
}

// acmeHTTPClient trusts acme.ca_file besides the system's roots.
func acmeHTTPClient(cfg *config.Config) (*http.Client, error) {
	if cfg.ACME.CAFile == "" {
		return &http.Client{Timeout: time.Minute}, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(cfg.ACME.CAFile)
	if err != nil {
		return nil, diag.PathError("ebb serve", "open", "read the ACME CA file", cfg.ACME.CAFile, err, cfg.Setting("acme.ca_file"))
	}
	if !pool.AppendCertsFromPEM(b) {
		de := diag.New("parse", "read the ACME CA file", cfg.ACME.CAFile, errors.New("no PEM certificate in it"))
		de.Setting, de.Exit = cfg.Setting("acme.ca_file"), diag.ExConfig
		return nil, de
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

// startACME makes the certificate manager (as server.user: its files are
// that user's) and runs it until ctx ends.
func (d *daemon) startACME(ctx context.Context) error {
	cfg := d.cfg
	if !cfg.ACME.Enable {
		return nil
	}
	hc, err := acmeHTTPClient(cfg)
	if err != nil {
		return err
	}
	var dns01 acme.DNS01
	if slices.Contains(cfg.ACME.Challenges, "dns-01") {
		u, err := acme.NewDNSUpdate(cfg.ACME.DNSUpdateServer, cfg.ACME.DNSUpdateKeyName, cfg.ACME.DNSUpdateKeyFile,
			cfg.ACME.DNSUpdateAlgo, cfg.ACME.DNSUpdateZone, cfg.DNS.Timeout.Duration)
		if err != nil {
			return diag.PathError("ebb serve", "open", "read the TSIG key for dns-01", cfg.ACME.DNSUpdateKeyFile, err, cfg.Setting("acme.dns_update_key_file"))
		}
		dns01 = u
	}
	log := d.log.With("component", "acme")
	useForSTARTTLS := cfg.SMTP.TLSCert == "" && d.certs != nil
	var m *acme.Manager
	m, err = acme.New(acme.Options{
		DirectoryURL: cfg.ACME.DirectoryURL,
		Email:        cfg.ACME.Email,
		Dir:          cfg.ACMEDir(),
		KeyType:      cfg.ACME.KeyType,
		RenewBefore:  cfg.ACME.RenewBefore.Duration,
		RetryMin:     cfg.ACME.RetryMin.Duration,
		RetryMax:     cfg.ACME.RetryMax.Duration,
		Timeout:      cfg.ACME.Timeout.Duration,
		Challenges:   cfg.ACME.Challenges,
		HTTPClient:   hc,
		Resolver:     dnsresolve.New(cfg),
		DNS01:        dns01,
		KeepKey:      dnscheck.KeepKeyForTLSA(dnsresolve.NewClient(cfg)),
		Log:          log,
		Issued: func(name string) {
			if useForSTARTTLS && name == acme.ServerNames(cfg)[0] {
				if c := m.Certificate(name); c != nil {
					d.certs.Set(c)
					log.Info("acme: STARTTLS and submission use the new certificate", "name", name, "not_after", c.Leaf.NotAfter.Format(time.DateTime))
				}
			}
		},
	})
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return diag.PathError("ebb serve", pe.Op, "keep the ACME account and certificates in", pe.Path, pe.Err, cfg.Setting("acme.dir"))
		}
		de := diag.New("open", "keep the ACME account and certificates in", cfg.ACMEDir(), err)
		de.Setting = cfg.Setting("acme.dir")
		return de
	}
	d.acme = m
	d.setACMEWanted(ctx)
	if c := m.Certificate(acme.ServerNames(cfg)[0]); c != nil && useForSTARTTLS {
		d.certs.Set(c)
	}
	go m.Run(ctx)
	go func() {
		t := time.NewTicker(acmeDomainsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.setACMEWanted(ctx)
			}
		}
	}()
	return nil
}

// setACMEWanted tells the manager the server's names and the hosted
// domains' (read from the directory now).
func (d *daemon) setACMEWanted(ctx context.Context) {
	if d.acme == nil {
		return
	}
	doms, err := d.hostedDomains(ctx)
	if err != nil {
		d.log.Warn("acme: cannot list the hosted domains; their certificates wait", "err", err.Error())
		return
	}
	d.acme.SetWanted(acme.ServerNames(d.cfg), acme.DomainNames(d.cfg, doms))
}

// hostedDomains lists the hosted domains and domain aliases.
func (d *daemon) hostedDomains(ctx context.Context) ([]string, error) {
	ds, err := d.dir.Domains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, x := range ds {
		out = append(out, x.Name)
	}
	return out, nil
}

// certExpiries are the certificates from files, for the expiry metric.
func (d *daemon) certExpiries() []acme.Expiry {
	var out []acme.Expiry
	if d.cfg.SMTP.TLSCert != "" && d.certs != nil {
		if l := d.certs.Leaf(); l != nil {
			out = append(out, acme.Expiry{Name: firstName(l), Source: "smtp.tls_cert", NotAfter: l.NotAfter})
		}
	}
	if d.sub != nil && d.sub.certs != nil && d.cfg.Submission.TLSCert != "" {
		if l := d.sub.certs.Leaf(); l != nil {
			out = append(out, acme.Expiry{Name: firstName(l), Source: "submission.tls_cert", NotAfter: l.NotAfter})
		}
	}
	return out
}

func firstName(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}
