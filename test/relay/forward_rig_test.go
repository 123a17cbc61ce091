package relay

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/test/harness"
)

// forwardRig is two.example (bob) on 127.0.0.3, where fwd@two.example is
// an alias that forwards to y@ok.example, and ok.example's MX: an
// smtp-sink on 127.0.0.9 that keeps every message it gets in dump. The
// DNS holds both MX records, two.example's DMARC record (p=none) and the
// records given (an SPF record, say); extra adds to two's configuration.
type forwardRig struct {
	dns  *dnstest.Server
	two  *harness.OutInstance
	dump string
}

func newForwardRig(t *testing.T, extra string, records ...string) *forwardRig {
	t.Helper()
	f := &forwardRig{dns: harness.StartDNS(t), dump: filepath.Join(harness.Dir(t), "dump")}
	port := harness.CommonPort(t, "127.0.0.3", "127.0.0.9")
	os.MkdirAll(f.dump, 0o777)
	os.Chmod(f.dump, 0o777)
	harness.StartSMTPSink(t, fmt.Sprintf("127.0.0.9:%d", port), "-d", f.dump+"/%M.")
	f.dns.MustAdd(append([]string{"two.example. MX 10 mx.two.example.", "mx.two.example. A 127.0.0.3",
		"ok.example. MX 10 mx.ok.example.", "mx.ok.example. A 127.0.0.9",
		`_dmarc.two.example. TXT "v=DMARC1; p=none"`}, records...)...)
	f.two = harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", Port: port, DNS: f.dns.Addr(), RelayPort: port,
		Users: []string{"bob"}, Extra: extra})
	harness.EbbAs(t, f.two.Daemon, nil, "alias", "add", "-c", f.two.Conf, "fwd@two.example", "y@ok.example")
	return f
}
