package fetch

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Test connects and logs in as a pass would, and writes what it finds:
// the server's folders and their counts (IMAP) or the maildrop's size
// (POP3). It fetches nothing. The error names the real cause.
func (f *Fetcher) Test(ctx context.Context, a *fetchstate.FetchAccount, w io.Writer) error {
	if a.Protocol == "pop3" {
		c, _, err := f.popDial(ctx, a)
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
			a.Name, where(a), transport(a), a.Username, st, c.caps["PIPELINING"], c.caps["UIDL"])
		c.cmd("QUIT")
		return nil
	}
	ic, err := f.imapDial(ctx, a)
	if err != nil {
		return asDiag(err, a)
	}
	defer ic.close()
	// go-imap asks for CAPABILITY here when the greeting and the login
	// named none (after STARTTLS); a failure shows in the guard.
	caps := ic.c.Caps()
	if o := ic.guard.overflow(); o != nil {
		return asDiag(ic.explain(o), a)
	}
	fmt.Fprintf(w, "%s: logged in to %s over %s as %s; %s\n", a.Name, where(a), transport(a), a.Username, offers(caps))
	list, err := ic.c.List("", "*", nil).Collect()
	if err != nil {
		return asDiag(ic.explain(err), a)
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
			diag.Because("the folders above are what the server has", diag.Say("run: ebb fetch set "+a.Name+" --folder ONE-OF-THEM")))
		return asDiag(err, a)
	}
	ic.c.Logout().Wait()
	return nil
}

// transport is how a session of a goes, in words: "IMAPS", "IMAP with
// STARTTLS", "POP3 with STLS", "IMAP without TLS".
func transport(a *fetchstate.FetchAccount) string {
	p := strings.ToUpper(a.Protocol)
	switch a.TLS {
	case "implicit":
		return p + "S"
	case "starttls":
		if a.Protocol == "pop3" {
			return p + " with STLS"
		}
		return p + " with STARTTLS"
	}
	return p + " without TLS"
}

// offers says which of the capabilities a pass uses the server has.
func offers(caps imap.CapSet) string {
	var has, not []string
	for _, c := range []imap.Cap{imap.CapIdle, imap.CapCondStore, imap.CapUIDPlus, imap.CapMove} {
		if caps.Has(c) {
			has = append(has, string(c))
		} else {
			not = append(not, string(c))
		}
	}
	switch {
	case len(not) == 0:
		return "the server offers " + strings.Join(has, " ")
	case len(has) == 0:
		return "the server offers none of " + strings.Join(not, " ") + " (without IDLE, ebb polls it every fetch.interval)"
	}
	return "the server offers " + strings.Join(has, " ") + ", not " + strings.Join(not, " ")
}

// Reach connects to the account's server and reads its greeting (after
// TLS, verified as a pass would), without logging in: what ebb doctor
// checks, changing nothing.
func (f *Fetcher) Reach(ctx context.Context, a *fetchstate.FetchAccount) error {
	if a.Protocol == "pop3" {
		tc, err := tlsConfig(a, f.ReadAs)
		if err != nil {
			return asDiag(err, a)
		}
		d := &net.Dialer{Timeout: f.Cfg.Timeout.Duration}
		var conn net.Conn
		if a.TLS == "implicit" {
			conn, err = tls.DialWithDialer(d, "tcp", where(a), tc)
		} else {
			conn, err = d.DialContext(ctx, "tcp", where(a))
		}
		if err != nil {
			return netDiag(err, a, "connect to")
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(f.Cfg.Timeout.Duration))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return netDiag(err, a, "read the greeting of")
		}
		if !strings.HasPrefix(line, "+OK") {
			return asDiag(fail(CauseServer, "read the greeting of "+where(a), fmt.Errorf("it says %q, not +OK", strings.TrimSpace(line)), because("this is no POP3 greeting: check the port (POP3S 995, POP3 110)")), a)
		}
		return nil
	}
	tc, err := tlsConfig(a, f.ReadAs)
	if err != nil {
		return asDiag(err, a)
	}
	conn, _, greeting, err := f.dialIMAP(ctx, a, tc)
	if err != nil {
		if _, ok := err.(*failure); ok {
			return asDiag(err, a)
		}
		return netDiag(err, a, "connect to")
	}
	c := imapclient.New(newGuardConn(conn, f.MaxMessageSize, greeting), nil)
	defer c.Close()
	dog := newWatchdog(f.Cfg.Timeout.Duration, func() { c.Close() })
	defer dog.stop()
	if err := c.WaitGreeting(); err != nil {
		return netDiag(dog.explain(err), a, "read the greeting of")
	}
	c.Logout()
	return nil
}
