package harness

import (
	"os/exec"
	"testing"
)

// Swaks runs swaks (services.md section 7) with args and returns what it
// did. Exit codes seen: 0 ok, 23 MAIL refused, 24 RCPT refused, 25 DATA
// refused, 28 AUTH failed, 29 no STARTTLS. --tls needs
// libio-socket-ssl-perl and libnet-ssleay-perl.
func Swaks(t testing.TB, args ...string) Result {
	t.Helper()
	Install(t, "swaks", "libnet-ssleay-perl", "libio-socket-ssl-perl")
	return Run(t, exec.Command("swaks", args...), nil)
}
