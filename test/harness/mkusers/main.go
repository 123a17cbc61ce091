// Command mkusers creates the accounts the integration tests run programs
// as (harness.TestUsers), when missing. test/run-all.sh runs it before the
// tests, so that their check sees no change to /etc/passwd.
package main

import (
	"fmt"
	"os"

	"github.com/ebbmail/ebb/test/harness"
)

func main() {
	if err := harness.CreateTestUsers(); err != nil {
		fmt.Fprintln(os.Stderr, "mkusers:", err)
		os.Exit(1)
	}
}
