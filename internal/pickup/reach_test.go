package pickup

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// A socket path longer than a Unix socket takes is told with its length
// and the settings that choose it (bind says only "invalid argument").
func TestSocketTooLong(t *testing.T) {
	s := &diag.Setting{Key: "sendmail.pickup_dir", Value: "/x"}
	if e := SocketTooLong("/var/spool/ebb-pickup/submit.sock", s); e != nil {
		t.Errorf("a short path: %s", e.Sentence())
	}
	long := "/" + strings.Repeat("d", 100) + "/submit.sock"
	e := SocketTooLong(long, s)
	if e == nil {
		t.Fatalf("a path of %d bytes passed", len(long))
	}
	if got := e.Sentence(); !strings.Contains(got, "the path is 113 bytes, and a Unix socket's path takes at most 107") ||
		!strings.Contains(got, "set sendmail.pickup_dir (or sendmail.socket)") {
		t.Errorf("sentence %q", got)
	}
}
