// Command inits links every package ebb-deliver links and exits as soon as
// their inits have run: no config, no message. bench/deliver/run.sh runs
// it beside the Go no-op, so the table shows what linking and initialising
// the delivery path's packages costs a process before ebb-deliver's main
// starts (issue 16).
package main

import _ "github.com/ebbmail/ebb/internal/mda"

func main() {}
