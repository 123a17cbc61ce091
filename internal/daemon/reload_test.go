package daemon

import (
	"slices"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
)

// Every key said to be applied on SIGHUP exists: a renamed key must not
// silently turn into one that is never reported.
func TestLiveKeysExist(t *testing.T) {
	keys := config.Keys()
	for k := range liveKeys {
		if !slices.Contains(keys, k) {
			t.Errorf("liveKeys names %q, which is not a config key", k)
		}
	}
}
