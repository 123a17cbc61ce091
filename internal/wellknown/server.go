package wellknown

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Server answers the well-known documents over HTTPS and ACME's http-01
// and redirects over HTTP.
type Server struct {
	// Domains lists the hosted domains and domain aliases (the directory);
	// asked at most once a minute.
	Domains func(ctx context.Context) ([]string, error)
	// GetCertificate gives the HTTPS certificate (acme.Manager's).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// HTTP01 answers an ACME http-01 request and reports whether it was
	// one; nil without ACME.
	HTTP01 func(w http.ResponseWriter, r *http.Request) bool
	// HTTPSPort is the port redirects point at (443).
	HTTPSPort string
	Log       *slog.Logger

	settings atomic.Pointer[Settings]
	requests *prometheus.CounterVec

	mu      sync.Mutex
	domains map[string]bool
	fetched time.Time
}

// New makes a server with settings s.
func New(s Settings) *Server {
	srv := &Server{Log: slog.New(slog.DiscardHandler), HTTPSPort: "443",
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_web_requests_total",
			Help: "Requests to ebb's HTTP(S) listener by document (mta-sts, autoconfig, autodiscover, acme-http-01, redirect, other) and status code.",
		}, []string{"document", "code"})}
	srv.SetSettings(s)
	return srv
}

// SetSettings replaces the settings (SIGHUP); requests after it see them.
func (s *Server) SetSettings(st Settings) { s.settings.Store(&st) }

// Settings are the current settings.
func (s *Server) Settings() Settings { return *s.settings.Load() }

// Collector is the request counter, for the metrics registry.
func (s *Server) Collector() prometheus.Collector { return s.requests }

// hosted reports whether domain is hosted, from a list kept a minute.
func (s *Server) hosted(ctx context.Context, domain string) (bool, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.domains == nil || time.Since(s.fetched) > time.Minute {
		ds, err := s.Domains(ctx)
		if err != nil {
			if s.domains == nil {
				return false, err
			}
			s.Log.Warn("web: cannot list the hosted domains; using the list of a minute ago", "err", err.Error())
		} else {
			s.domains = map[string]bool{}
			for _, d := range ds {
				s.domains[strings.ToLower(d)] = true
			}
			s.fetched = time.Now()
		}
	}
	return s.domains[domain], nil
}

// Forget makes the next request read the hosted domains again.
func (s *Server) Forget() {
	s.mu.Lock()
	s.domains = nil
	s.mu.Unlock()
}

// host is the request's host name without port, lower case.
func host(r *http.Request) string {
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// statusWriter remembers the status code for the counter.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (s *Server) count(doc string, w *statusWriter) {
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	s.requests.WithLabelValues(doc, http.StatusText(code)).Inc()
}

// HTTPSHandler serves the documents.
func (s *Server) HTTPSHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		doc := s.serve(w, r)
		s.count(doc, w)
	})
}

func (s *Server) serve(w *statusWriter, r *http.Request) string {
	if s.HTTP01 != nil && s.HTTP01(w, r) {
		return "acme-http-01"
	}
	h := host(r)
	path := r.URL.Path
	st := s.Settings()
	switch {
	case path == MTASTSPath && strings.HasPrefix(h, "mta-sts."):
		s.servePolicy(w, r, st, strings.TrimPrefix(h, "mta-sts."))
		return "mta-sts"
	case st.Autoconfig && (path == "/mail/config-v1.1.xml" && strings.HasPrefix(h, "autoconfig.") || path == "/.well-known/autoconfig/mail/config-v1.1.xml"):
		domain := strings.TrimPrefix(h, "autoconfig.")
		// Thunderbird adds ?emailaddress=; its domain decides when the
		// request came to the mail host's own name. An account address
		// is an addr-spec: envaddr, the one parser of those.
		if a, err := envaddr.Parse(r.URL.Query().Get("emailaddress")); err == nil {
			domain = a.Domain
		}
		s.serveAutoconfig(w, r, st, domain)
		return "autoconfig"
	case st.Autoconfig && strings.EqualFold(path, "/autodiscover/autodiscover.xml"):
		s.serveAutodiscover(w, r, st)
		return "autodiscover"
	}
	http.NotFound(w, r)
	return "other"
}

// knownDomain answers 404 (or 503 when the directory is down) unless
// domain is hosted.
func (s *Server) knownDomain(w http.ResponseWriter, r *http.Request, domain string) bool {
	ok, err := s.hosted(r.Context(), domain)
	if err != nil {
		s.Log.Error("web: cannot list the hosted domains", "err", err.Error())
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return false
	}
	if !ok {
		http.NotFound(w, r)
		return false
	}
	return true
}

func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request, st Settings, domain string) {
	text, _, ok := PolicyText(st)
	if !ok || !s.knownDomain(w, r, domain) {
		if !ok {
			http.NotFound(w, r)
		}
		return
	}
	// RFC 8461 §3.3: media type text/plain; senders must not follow
	// redirects, so none is ever sent for the policy.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, text)
}

func (s *Server) serveAutoconfig(w http.ResponseWriter, r *http.Request, st Settings, domain string) {
	if !s.knownDomain(w, r, domain) {
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(Autoconfig(st, domain))
}

func (s *Server) serveAutodiscover(w http.ResponseWriter, r *http.Request, st Settings) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "autodiscover takes a POST of the request XML", http.StatusMethodNotAllowed)
		return
	}
	var req autodiscoverRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "not an autodiscover request: "+err.Error(), http.StatusBadRequest)
		return
	}
	a, err := envaddr.Parse(strings.TrimSpace(req.Request.EMailAddress))
	if err != nil {
		http.Error(w, "the request has no EMailAddress", http.StatusBadRequest)
		return
	}
	if !s.knownDomain(w, r, a.Domain) {
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(Autodiscover(st, a.String()))
}

// HTTPHandler is port 80: ACME http-01, else a redirect to HTTPS.
func (s *Server) HTTPHandler(https bool) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			doc := "redirect"
			if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				doc = "acme-http-01"
			} else if !https {
				doc = "other"
			}
			s.count(doc, w)
		}()
		if s.HTTP01 != nil && s.HTTP01(w, r) {
			return
		}
		if !https {
			http.NotFound(w, r)
			return
		}
		target := "https://" + host(r)
		if s.HTTPSPort != "" && s.HTTPSPort != "443" {
			target += ":" + s.HTTPSPort
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// TLSConfig is the HTTPS listener's TLS: certificates from
// GetCertificate, and the tls-alpn-01 protocol offered (RFC 8737 §3).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		NextProtos:     []string{"http/1.1", "acme-tls/1"},
	}
}

// Serve answers on the HTTPS and HTTP listeners until ctx ends.
func (s *Server) Serve(ctx context.Context, https, plain []net.Listener) error {
	errs := make(chan error, len(https)+len(plain))
	var srvs []*http.Server
	for _, l := range https {
		srv := &http.Server{Handler: s.HTTPSHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, TLSConfig: s.TLSConfig(),
			// Failed handshakes of scanners are noise: debug level.
			ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
			// A tls-alpn-01 connection ends after the handshake (RFC 8737 §3).
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){"acme-tls/1": func(_ *http.Server, c *tls.Conn, _ http.Handler) { c.Close() }}}
		srvs = append(srvs, srv)
		go func(l net.Listener) { errs <- srv.ServeTLS(l, "", "") }(l)
	}
	for _, l := range plain {
		srv := &http.Server{Handler: s.HTTPHandler(len(https) > 0), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug)}
		srvs = append(srvs, srv)
		go func(l net.Listener) { errs <- srv.Serve(l) }(l)
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range srvs {
		srv.Shutdown(sctx)
	}
	if errors.Is(first, http.ErrServerClosed) {
		first = nil
	}
	return first
}
