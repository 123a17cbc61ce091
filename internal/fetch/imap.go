package fetch

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// errReauth ends a session whose OAuth2 access token is about to expire:
// the caller logs in again at once with a fresh one (no backoff).
var errReauth = errors.New("the access token expires: logging in again")

// watch is what the daemon adds to a session: IDLE between passes, the
// slot it gives back when it enters IDLE, and a report after each pass.
type watch struct {
	release  func()
	passDone func(res Result, err error)
}

// imapConn is one logged-in IMAP connection.
type imapConn struct {
	c       *imapclient.Client
	proto   string
	expiry  time.Time // of the access token (zero: password)
	events  chan struct{}
	dog     *watchdog
	guard   *guardConn
	account *fetchstate.FetchAccount
	unhook  func() bool // of the context.AfterFunc that closes c
	// waiting is how many of the account's messages were still in the
	// queue after the last pass: IDLE then also ends when the queue
	// reports an outcome, so that their server copies go soon.
	waiting int
	// elsewhere is how many wait on another host's queue (queued or
	// pending there), or were asked for again after the pass read its
	// rows (endPass): IDLE then also looks at the shared state every
	// lookElsewhere, since nothing else would wake it for them. carry is
	// what such a look applied, counted into the next pass.
	elsewhere int
	carry     Result
}

// explain turns the error of a connection we closed into its reason: a
// phase that took longer than fetch.timeout, or a server past a bound.
func (ic *imapConn) explain(err error) error {
	if err == nil {
		return nil
	}
	if o := ic.guard.overflow(); o != nil {
		return fail(CauseServer, "read the answer of "+where(ic.account), o,
			because("ebb ended the connection there: it takes no more than that from a server (its memory stays bounded, RFC 9051's syntax holds); "+
				"the server misbehaves, or is not an IMAP server; nothing is lost: what was not recorded is fetched again at the next attempt"))
	}
	return ic.dog.explain(err)
}

func (f *Fetcher) imapDial(ctx context.Context, a *fetchstate.FetchAccount) (*imapConn, error) {
	tc, err := tlsConfig(a, f.ReadAs)
	if err != nil {
		return nil, err
	}
	ic := &imapConn{events: make(chan struct{}, 1), account: a, proto: "IMAP"}
	opts := &imapclient.Options{
		// The handler runs on the reader goroutine: never block it.
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d != nil && d.NumMessages != nil {
					select {
					case ic.events <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	conn, proto, greeting, err := f.dialIMAP(ctx, a, tc)
	if err != nil {
		return nil, err
	}
	ic.proto = proto
	ic.guard = newGuardConn(conn, f.MaxMessageSize, greeting)
	// Closing the connection ends go-imap's reader and every command
	// waiting on it.
	ic.dog = newWatchdog(f.Cfg.Timeout.Duration, func() { conn.Close() })
	// Bytes from the server are progress: a long answer that streams
	// (a thousand EXPUNGE lines) is no hang.
	ic.guard.progress = ic.dog.kick
	c := imapclient.New(ic.guard, opts)
	ic.c = c
	ic.unhook = context.AfterFunc(ctx, func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		ic.close()
		return nil, ic.explain(err)
	}
	ic.dog.kick()
	if err := f.imapLogin(ctx, ic); err != nil {
		ic.close()
		return nil, err
	}
	ic.dog.kick()
	return ic, nil
}

// dialIMAP connects as the account's --tls says and returns the
// connection for go-imap, the Received header's "with", and the greeting
// go-imap is to read first (after a STARTTLS of ours). STARTTLS (RFC 9051
// §6.2.1) is done here rather than by go-imap, so that the bounds of
// guardConn apply to what comes over TLS.
func (f *Fetcher) dialIMAP(ctx context.Context, a *fetchstate.FetchAccount, tc *tls.Config) (net.Conn, string, []byte, error) {
	d := &net.Dialer{Timeout: f.Cfg.Timeout.Duration}
	raw, err := d.DialContext(ctx, "tcp", where(a))
	if err != nil {
		return nil, "", nil, err
	}
	switch a.TLS {
	case "implicit":
		c, err := f.handshake(ctx, raw, tc)
		return c, "IMAPS", nil, err
	case "starttls":
		greeting, err := startTLSByHand(a, raw, f.Cfg.Timeout.Duration)
		if err != nil {
			raw.Close()
			return nil, "", nil, err
		}
		c, err := f.handshake(ctx, raw, tc)
		if err != nil {
			return nil, "", nil, err
		}
		return c, "IMAPS", greeting, nil // the Received keyword: IMAP with TLS
	}
	return raw, "IMAP", nil, nil
}

// startTLSByHand reads the greeting and asks for STARTTLS; it returns
// the greeting for go-imap to read (with its capabilities dropped: they
// are asked for again over TLS, RFC 9051 §6.2.1).
func startTLSByHand(a *fetchstate.FetchAccount, raw net.Conn, timeout time.Duration) ([]byte, error) {
	raw.SetDeadline(time.Now().Add(timeout))
	defer raw.SetDeadline(time.Time{})
	r := bufio.NewReaderSize(raw, 4096)
	line, err := readBoundedLine(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "* OK") {
		return nil, fail(CauseTLS, "start TLS (STARTTLS) with", fmt.Errorf("the greeting is %q", strings.TrimSpace(line)),
			because("this is no IMAP greeting: check the port (IMAP with STARTTLS: 143)"))
	}
	if _, err := io.WriteString(raw, "S1 STARTTLS\r\n"); err != nil {
		return nil, err
	}
	for {
		line, err := readBoundedLine(r)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(line, "S1 ") {
			if !strings.HasPrefix(strings.ToUpper(line), "S1 OK") {
				return nil, fail(CauseTLS, "start TLS (STARTTLS) with", fmt.Errorf("the server answered %q", strings.TrimSpace(line)),
					diag.Because("the server offers no STARTTLS here: use IMAP over TLS", diag.Command("ebb", "fetch", "set", a.Name, "--tls", "implicit", "--server", net.JoinHostPort(a.Host, "993"))))
			}
			break
		}
	}
	if r.Buffered() > 0 {
		// Bytes after the OK would be taken as if they came over TLS
		// (the STARTTLS command injection of CVE-2011-0411).
		return nil, fail(CauseTLS, "start TLS (STARTTLS) with", errors.New("the server sent data after its OK to STARTTLS"),
			because("something between ebb and the server tampers with the connection"))
	}
	return []byte("* OK TLS is on\r\n"), nil
}

// loginFix is what to do when the server refuses the login: the password
// (or the OAuth2 consent) again.
func loginFix(a *fetchstate.FetchAccount) *diag.Fix {
	if a.Auth == "oauth2" {
		return tokenFix(a)
	}
	return diag.Because("the server refused "+a.Username+"'s password: set the right one (the prompt asks for it)",
		diag.Command("ebb", "fetch", "passwd", a.Name))
}

// tokenFix is what to do when the server refuses an OAuth2 token that
// was refreshed already: consent again.
func tokenFix(a *fetchstate.FetchAccount) *diag.Fix {
	return diag.Because("the access token was refused, also after a refresh: grant ebb access again", diag.Command("ebb", "fetch", "auth", a.Name))
}

// readBoundedLine reads one line of at most the reader's buffer.
func readBoundedLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", &errOverflow{fmt.Sprintf("a reply line before TLS is longer than %d bytes", r.Size())}
	}
	return string(line), err
}

func (ic *imapConn) close() {
	ic.dog.stop()
	ic.unhook()
	ic.c.Close()
}

func (f *Fetcher) imapLogin(ctx context.Context, ic *imapConn) error {
	a, c := ic.account, ic.c
	doing := fmt.Sprintf("log in as %s to %s", a.Username, where(a))
	var err error
	if a.Auth == "oauth2" {
		tok, exp, terr := f.accessToken(ctx, a)
		if terr != nil {
			return terr
		}
		ic.expiry = exp
		mech := "XOAUTH2"
		if a.OAuth.Mechanism != "" {
			mech = a.OAuth.Mechanism
		}
		err = c.Authenticate(saslClient(mech, a.Username, tok, a.Host, a.Port))
	} else {
		err = c.Login(a.Username, a.Password).Wait()
	}
	var ie *imap.Error
	var refused *tokenRefused
	var obe *sasl.OAuthBearerError
	switch {
	case errors.As(err, &refused):
		return fail(CauseLogin, doing, refused, tokenFix(a))
	case errors.As(err, &obe):
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the token (RFC 7628 status %s)", obe.Status), tokenFix(a))
	}
	if errors.As(err, &ie) {
		words := ie.Text
		if ie.Code != "" {
			words = "[" + string(ie.Code) + "] " + words
		}
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the login: %s", words), loginFix(a))
	}
	if err != nil {
		return ic.explain(err)
	}
	return nil
}

// imapSession runs passes over the account's folders until there is
// nothing more to do (w == nil: once) or ctx ends (the daemon, with IDLE).
// A session whose access token expires logs in again and goes on.
func (f *Fetcher) imapSession(ctx context.Context, a *fetchstate.FetchAccount, p Progress, res *Result, w *watch) error {
	for {
		err := f.imapConnSession(ctx, a, p, res, w)
		if errors.Is(err, errReauth) {
			f.log().Info("access token expires during the session: logging in again", "account", a.Name, "server", where(a))
			continue
		}
		return err
	}
}

func (f *Fetcher) imapConnSession(ctx context.Context, a *fetchstate.FetchAccount, p Progress, res *Result, w *watch) error {
	ic, err := f.imapDial(ctx, a)
	if err != nil {
		return err
	}
	defer func() {
		ic.dog.kick()
		ic.c.Logout().Wait()
		ic.close()
	}()
	rerun := false
	for {
		var pass Result
		err := f.imapPass(ctx, ic, p, &pass)
		pass.Delivered += ic.carry.Delivered
		pass.Skipped += ic.carry.Skipped
		ic.carry = Result{}
		res.add(pass)
		if err != nil {
			return err
		}
		if w == nil {
			return nil
		}
		w.passDone(pass, nil)
		*res = Result{}
		// IDLE watches one folder; with several, the account is polled.
		if !f.Cfg.Idle || len(a.Folders) != 1 || !ic.c.Caps().Has(imap.CapIdle) {
			return nil
		}
		// A pass run for an EXISTS that found nothing, with another EXISTS
		// waiting: a server that repeats them is not run after in a loop.
		if rerun && pass.Fetched+pass.Skipped+pass.Known == 0 {
			ic.drainEvents()
		}
		// An account in IDLE holds no slot: its connection is open and
		// what the server pushes is fetched at once on it, whatever the
		// other accounts do.
		w.release()
		if rerun, err = f.idle(ctx, ic); err != nil {
			return err
		}
	}
}

// imapPass is one pass: what the queue said since the last one, then
// every folder.
func (f *Fetcher) imapPass(ctx context.Context, ic *imapConn, p Progress, res *Result) error {
	a := ic.account
	if err := f.beginPass(ctx, a, res); err != nil {
		return err
	}
	var soft error
	for _, folder := range a.Folders {
		if err := f.imapFolder(ctx, ic, folder, p, res); isSoft(err) {
			soft = err
		} else if err != nil {
			return err
		}
	}
	waiting, elsewhere, err := f.endPass(ctx, a, res)
	ic.waiting, ic.elsewhere = waiting, elsewhere
	if err != nil {
		return err
	}
	return soft
}

// idle waits in IDLE (RFC 2177) for new mail, re-issuing it every
// fetch.idle_restart (before the 29 minutes of §3), and ends early when
// the access token is about to expire, or when the queue reports on a
// message whose server copy waits for it. An EXISTS that came during the
// pass (with the reply to our UID FETCH, say) ends it at once: the pass
// may have searched before that message arrived.
// It reports whether it ended at once for such an EXISTS.
func (f *Fetcher) idle(ctx context.Context, ic *imapConn) (bool, error) {
	select {
	case <-ic.events:
		return true, nil
	default:
	}
	for {
		ic.dog.kick()
		cmd, err := ic.c.Idle()
		if err != nil {
			return false, ic.explain(err)
		}
		ic.dog.pause()
		restart := time.NewTimer(f.Cfg.IdleRestart.Duration)
		var tokenC <-chan time.Time
		if !ic.expiry.IsZero() {
			d := time.Until(ic.expiry.Add(-f.Cfg.TokenRefreshBefore.Duration))
			if d < 0 {
				d = 0
			}
			tokenC = time.After(d)
		}
		var settled <-chan struct{}
		if l := f.local(); l != nil && ic.waiting > 0 {
			settled = l.Settled()
		}
		var look <-chan time.Time
		var lookT *time.Ticker
		if ic.elsewhere > 0 {
			lookT = time.NewTicker(f.lookElsewhere())
			look = lookT.C
		}
		var out error
		done := false
		why := "new mail"
		for waiting := true; waiting; {
			waiting = false
			select {
			case <-ic.events:
				done = true
			case <-settled:
				done, why = true, "the queue reported on a fetched message"
			case <-look:
				if !f.movedElsewhere(ctx, ic.account, &ic.carry) {
					waiting = true // nothing moved: IDLE goes on
					continue
				}
				done, why = true, "another host's queue moved on with messages of the account"
			case <-restart.C:
				why = "fetch.idle_restart"
			case <-tokenC:
				out, done, why = errReauth, true, "the access token expires"
			case <-ctx.Done():
				out, done, why = ctx.Err(), true, "stopping"
			case <-ic.c.Closed():
				out, done, why = io.EOF, true, "the server closed the connection"
			}
		}
		if lookT != nil {
			lookT.Stop()
		}
		f.log().Debug("IDLE ends", "account", ic.account.Name, "why", why)
		restart.Stop()
		ic.dog.resume()
		if err := cmd.Close(); err != nil && out == nil {
			out = ic.explain(err)
		}
		if err := cmd.Wait(); err != nil && out == nil {
			out = ic.explain(err)
		}
		if done || out != nil {
			return false, out
		}
	}
}

// drainEvents forgets the EXISTS seen so far: the pass that follows
// searches after it.
func (ic *imapConn) drainEvents() {
	select {
	case <-ic.events:
	default:
	}
}
