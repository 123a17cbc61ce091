package sendmail

import (
	"fmt"
	"io"
	"os"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/diag"
)

// Command reads sendmail's command line as ebb sendmail (or ebb invoked
// as sendmail) is given it: the options (a line ebb cannot accept is a
// usage error, exit 64), with the config file of -C, else $EBB_CONFIG.
// done reports that o needed nothing more: the modes kept for
// compatibility that do nothing (-bi says why on errOut with -v).
func Command(args []string, cred Credentials, errOut io.Writer) (o *Options, done bool, err error) {
	o, err = Parse("sendmail", args)
	if err == nil {
		err = CheckConfigOption(o, cred)
	}
	if err != nil {
		return nil, false, cli.Errorf(diag.ExUsage, "%v", err)
	}
	if o.Config == "" {
		o.Config = os.Getenv("EBB_CONFIG")
	}
	switch o.Mode {
	case ModeIgnore:
		return o, true, nil
	case ModeNewAliases:
		if o.Verbose {
			fmt.Fprintln(errOut, "sendmail: aliases live in ebb's directory (ebb alias ...); there is no alias file to rebuild")
		}
		return o, true, nil
	}
	return o, false, nil
}
