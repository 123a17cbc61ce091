package doctor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnstest"
)

// The dane check asks dns.resolver for the root's SOA: a resolver that
// sets the AD bit passes; one that does not (it does not validate) fails,
// with the way back to no DANE; DANE off or dns.dnssec off are said, not
// failed.
func TestDANECheck(t *testing.T) {
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.MustAdd(". SOA a.root.test. h.root.test. 1 3600 600 86400 5")
	cfgFor := func(extra string) *config.Config {
		cfg, err := config.Parse(filepath.Join(t.TempDir(), "ebb.toml"), []byte(fmt.Sprintf("[dns]\nresolver = %q\ntimeout = \"1s\"\n%s\n", s.Addr(), extra)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	run := func(cfg *config.Config) []Finding {
		return checkDANE(context.Background(), &Env{Cfg: cfg})
	}
	if fs := run(cfgFor("")); len(fs) != 1 || fs[0].Status != OK || !strings.Contains(fs[0].Message, "dns.dnssec = false") {
		t.Errorf("dnssec off: %+v", fs)
	}
	fs := run(cfgFor("dnssec = true"))
	if len(fs) != 1 || fs[0].Status != Fail || !strings.Contains(fs[0].Message, "has no AD bit: it does not validate DNSSEC") ||
		!strings.Contains(fs[0].Err.Fix.String(), "set dns.dnssec = false") {
		t.Errorf("not validating: %+v", fs)
	}
	s.Secure(".", true)
	if fs := run(cfgFor("dnssec = true")); len(fs) != 1 || fs[0].Status != OK || !strings.Contains(fs[0].Message, "validates DNSSEC") {
		t.Errorf("validating: %+v", fs)
	}
	s.Close()
	if fs := run(cfgFor("dnssec = true")); len(fs) != 1 || fs[0].Status != Fail || !strings.Contains(fs[0].Message, "the root zone's SOA") {
		t.Errorf("down: %+v", fs)
	}
}
