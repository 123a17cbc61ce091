package wellknown

import (
	"net"
	"os"
	"strconv"
	"time"

	"github.com/ebbmail/ebb/internal/config"
)

// Settings are what the documents say, from the web.* settings.
type Settings struct {
	Hostname     string
	MTASTSMode   string // off, none, testing, enforce
	MTASTSMX     []string
	MTASTSMaxAge time.Duration
	Autoconfig   bool
	IMAP         Endpoint
	Submission   *Endpoint // nil: ebb has no submission listener
}

// Endpoint is a server clients connect to.
type Endpoint struct {
	Host     string
	Port     int
	Implicit bool // TLS from the first byte; else STARTTLS
}

// FromConfig reads the web.* settings (and the submission listeners).
func FromConfig(cfg *config.Config) Settings {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	s := Settings{
		Hostname:     host,
		MTASTSMode:   cfg.Web.MTASTSMode,
		MTASTSMX:     cfg.Web.MTASTSMX,
		MTASTSMaxAge: cfg.Web.MTASTSMaxAge.Duration,
		Autoconfig:   cfg.Web.Autoconfig,
		IMAP:         Endpoint{Host: or(cfg.Web.IMAPHost, host), Port: cfg.Web.IMAPPort, Implicit: cfg.Web.IMAPTLS == "tls"},
	}
	if len(s.MTASTSMX) == 0 {
		s.MTASTSMX = []string{host}
	}
	sub := or(cfg.Web.SubmissionHost, host)
	// RFC 8314 §3.3: implicit TLS is preferred for submission.
	if len(cfg.Submission.ListenTLS) > 0 {
		s.Submission = &Endpoint{Host: sub, Port: portOf(cfg.Submission.ListenTLS[0], 465), Implicit: true}
	} else if len(cfg.Submission.Listen) > 0 {
		s.Submission = &Endpoint{Host: sub, Port: portOf(cfg.Submission.Listen[0], 587)}
	}
	return s
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func portOf(addr string, def int) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return def
	}
	return n
}
