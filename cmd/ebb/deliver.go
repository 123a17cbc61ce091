package main

import "github.com/ebbmail/ebb/internal/mda"

// runDeliver is `ebb deliver`, the MDA (internal/mda). The same code is the
// small binary ebb-deliver (cmd/ebb-deliver), which starts faster.
func runDeliver(e *env) int { return mda.Run(e.ctx, e.args, e.stdin, e.stderr) }
