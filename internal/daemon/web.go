package daemon

import (
	"context"
	"net"

	"github.com/ebbmail/ebb/internal/wellknown"
)

// bindWeb opens the HTTPS and HTTP sockets (web.listen, web.listen_http)
// while ebb serve may still be root (ports 443 and 80).
func (d *daemon) bindWeb() int {
	for _, a := range d.cfg.Web.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			d.closeWeb()
			return d.bindFailed(a, "web.listen", err)
		}
		d.webTLS = append(d.webTLS, l)
	}
	for _, a := range d.cfg.Web.ListenHTTP {
		l, err := net.Listen("tcp", a)
		if err != nil {
			d.closeWeb()
			return d.bindFailed(a, "web.listen_http", err)
		}
		d.webHTTP = append(d.webHTTP, l)
	}
	return 0
}

func (d *daemon) closeWeb() {
	for _, l := range append(d.webTLS, d.webHTTP...) {
		l.Close()
	}
	d.webTLS, d.webHTTP = nil, nil
}

// startWeb serves the well-known documents (internal/wellknown) until ctx
// ends: certificates from ACME, else from smtp.tls_cert.
func (d *daemon) startWeb(ctx context.Context) {
	if len(d.webTLS)+len(d.webHTTP) == 0 {
		return
	}
	w := wellknown.New(wellknown.FromConfig(d.cfg))
	w.Log = d.log.With("component", "web")
	w.Domains = d.hostedDomains
	if len(d.cfg.Web.Listen) > 0 {
		w.HTTPSPort = portOf(d.cfg.Web.Listen[0])
	}
	switch {
	case d.acme != nil:
		w.GetCertificate = d.acme.GetCertificate
		w.HTTP01 = d.acme.ServeHTTP01
	case d.certs != nil:
		w.GetCertificate = d.certs.GetCertificate
	}
	if w.GetCertificate == nil && len(d.webTLS) > 0 {
		d.log.Error("web: HTTPS has no certificate: set acme.enable (or smtp.tls_cert); web.listen stays closed", "listen", addrList(listenerAddrs(d.webTLS)))
		for _, l := range d.webTLS {
			l.Close()
		}
		d.webTLS = nil
	}
	d.web = w
	d.metrics.Registry.MustRegister(w.Collector())
	go func() {
		if err := w.Serve(ctx, d.webTLS, d.webHTTP); err != nil {
			d.log.Error("web: the HTTP(S) listener failed", "err", err.Error())
		}
	}()
	d.log.Info("web: serving", "https", addrList(listenerAddrs(d.webTLS)), "http", addrList(listenerAddrs(d.webHTTP)))
}

func listenerAddrs(ls []net.Listener) []net.Addr {
	var out []net.Addr
	for _, l := range ls {
		out = append(out, l.Addr())
	}
	return out
}
