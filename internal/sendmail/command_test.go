package sendmail

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestCommandReadsTheLineAndEndsTheModesThatDoNothing(t *testing.T) {
	root := Credentials{}
	var errOut bytes.Buffer
	t.Setenv("EBB_CONFIG", "/etc/ebb/other.toml")
	o, done, err := Command([]string{"-t", "-i"}, root, &errOut)
	if err != nil || done || o.Config != "/etc/ebb/other.toml" || !o.ExtractRecipients || !o.IgnoreDots {
		t.Errorf("-t -i: %+v, %v, %v", o, done, err)
	}
	if o, _, err := Command([]string{"-C", "/tmp/ebb.toml", "-bp"}, root, &errOut); err != nil || o.Config != "/tmp/ebb.toml" || o.Mode != ModeMailq {
		t.Errorf("-C FILE -bp: %+v, %v", o, err)
	}
	if _, done, err := Command([]string{"-bh"}, root, &errOut); err != nil || !done {
		t.Errorf("-bh: %v, %v", done, err)
	}
	if _, done, err := Command([]string{"-bi", "-v"}, root, &errOut); err != nil || !done || errOut.String() != "sendmail: aliases live in ebb's directory (ebb alias ...); there is no alias file to rebuild\n" {
		t.Errorf("-bi -v: %v, %v, %q", done, err, errOut.String())
	}
	var ec interface{ ExitCode() int }
	for _, args := range [][]string{{"-bz"}, {"-C", "/tmp/ebb.toml", "a@example.org"}} {
		cred := root
		if args[0] == "-C" {
			cred = Credentials{UID: 1000, EUID: 0, GID: 1000, EGID: 1000} // setuid: -C needs root
		}
		if _, _, err := Command(args, cred, &errOut); !errors.As(err, &ec) || ec.ExitCode() != diag.ExUsage {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
