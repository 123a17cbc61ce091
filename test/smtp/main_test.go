package smtp

import (
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
