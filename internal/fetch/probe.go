package fetch

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/ebbmail/ebb/internal/directory"
)

// Test connects and logs in as a pass would, and writes what it finds:
// the server's folders and their counts (IMAP) or the maildrop's size
// (POP3). It fetches nothing. The error names the real cause.
func (f *Fetcher) Test(ctx context.Context, a *directory.FetchAccount, w io.Writer) error {
	if a.Protocol == "pop3" {
		c, proto, err := f.popDial(ctx, a)
		if err != nil {
			return asDiag(err, a)
		}
		defer c.conn.Close()
		defer c.dog.stop()
		st, err := c.cmd("STAT")
		if err != nil {
			return asDiag(err, a)
		}
		fmt.Fprintf(w, "%s: logged in to %s over %s as %s; maildrop: %s (messages, bytes); PIPELINING %v, UIDL %v\n",
			a.Name, where(a), proto, a.Username, st, c.caps["PIPELINING"], c.caps["UIDL"])
		c.cmd("QUIT")
		return nil
	}
	ic, err := f.imapDial(ctx, a)
	if err != nil {
		return asDiag(err, a)
	}
	defer ic.c.Close()
	defer ic.dog.stop()
	caps := ic.c.Caps()
	var has []string
	for _, c := range []imap.Cap{imap.CapIdle, imap.CapCondStore, imap.CapUIDPlus, imap.CapMove} {
		if caps.Has(c) {
			has = append(has, string(c))
		}
	}
	fmt.Fprintf(w, "%s: logged in to %s over %s as %s; the server offers %s\n", a.Name, where(a), ic.proto, a.Username, strings.Join(has, " "))
	list, err := ic.c.List("", "*", nil).Collect()
	if err != nil {
		return asDiag(ic.dog.explain(err), a)
	}
	want := map[string]bool{}
	for _, fo := range a.Folders {
		want[fo] = true
	}
	for _, l := range list {
		mark := ""
		if want[l.Mailbox] {
			mark = " (fetched)"
			delete(want, l.Mailbox)
		}
		fmt.Fprintf(w, "  folder %s%s\n", l.Mailbox, mark)
	}
	for fo := range want {
		err := fail(CauseFolder, fmt.Sprintf("find the folder %q on %s", fo, where(a)), fmt.Errorf("the server lists no such folder"),
			"the folders above are what the server has; change the account's --folder")
		return asDiag(err, a)
	}
	ic.c.Logout().Wait()
	return nil
}
