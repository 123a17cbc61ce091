package daemon

import (
	"os"
	"runtime/debug"

	"github.com/ebbmail/ebb/internal/config"
)

// baseMemory is what ebb serve needs besides password verification: the
// runtime, the caches, buffers of the sessions in flight.
const baseMemory = 32 << 20

// setMemoryLimit tells Go's collector the memory ebb serve is meant to
// stay within: the base plus directory.auth_memory, the budget of the
// password verifications running at once. Each argon2id verification
// allocates its whole memory parameter and drops it a moment later; with
// the default collector pacing (GOGC=100) the heap may grow to twice what
// was live at the last collection before the next one, so the budget alone
// would not bound the process. The limit is soft (runtime/debug): past it
// the collector runs more often, nothing fails. A GOMEMLIMIT in the
// environment wins.
func setMemoryLimit(cfg *config.Config) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := baseMemory + int64(cfg.Directory.AuthMemory)
	debug.SetMemoryLimit(limit)
	return limit
}
