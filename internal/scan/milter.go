package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-milter"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// Milter is a client of one milter (Sendmail milter protocol v6, via
// emersion/go-milter). ebb offers the milter what it can honour without
// rewriting the spool file: add headers, change a header (a header that is
// not there is added; one that is there gets the new value above it, the
// old one stays), and quarantine (the message is held in the queue). Body
// replacement and envelope changes are not offered; a milter that insists
// on them fails negotiation, and its failure policy decides.
type Milter struct {
	Addr    string // as configured: inet:port@host, inet:host:port, unix:/path
	Timeout time.Duration
	Host    string // our host name, macro j

	network, address string
}

// NewMilter parses the address in Postfix's and Sendmail's spellings.
func NewMilter(addr string, timeout time.Duration, host string) (*Milter, error) {
	m := &Milter{Addr: addr, Timeout: timeout, Host: host}
	switch {
	case strings.HasPrefix(addr, "unix:"), strings.HasPrefix(addr, "local:"):
		m.network, m.address = "unix", addr[strings.IndexByte(addr, ':')+1:]
	case strings.HasPrefix(addr, "/"):
		m.network, m.address = "unix", addr
	case strings.HasPrefix(addr, "inet:"), strings.HasPrefix(addr, "inet6:"):
		rest := addr[strings.IndexByte(addr, ':')+1:]
		if port, host, ok := strings.Cut(rest, "@"); ok { // Sendmail: inet:port@host
			m.address = net.JoinHostPort(host, port)
		} else {
			m.address = rest
		}
		m.network = "tcp"
	default:
		m.network, m.address = "tcp", addr
	}
	if m.network == "tcp" {
		if _, _, err := net.SplitHostPort(m.address); err != nil {
			return nil, fmt.Errorf("milter address %q: %w (use inet:host:port or unix:/path)", addr, err)
		}
	}
	return m, nil
}

// Name is "milter:host:port", or "milter:unix:<socket name>": the coverage
// header and the metrics name it, and a local path does not belong there.
func (m *Milter) Name() string {
	if m.network == "unix" {
		return "milter:unix:" + filepath.Base(m.address)
	}
	return "milter:" + m.address
}
func (m *Milter) Kind() Kind { return Filter }

const milterActions = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine

// milterSteps are the protocol options offered: a milter may skip any
// stage and any reply it does not need (libmilter refuses an MTA that
// offers fewer than the milter asks for), and may SKIP the rest of the body.
const milterSteps = milter.OptNoConnect | milter.OptNoHelo | milter.OptNoMailFrom | milter.OptNoRcptTo |
	milter.OptNoBody | milter.OptNoHeaders | milter.OptNoEOH | milter.OptNoUnknown | milter.OptNoData |
	milter.OptSkip | milter.OptNoHeaderReply | milter.OptNoConnReply | milter.OptNoHeloReply |
	milter.OptNoMailReply | milter.OptNoRcptReply | milter.OptNoDataReply | milter.OptNoUnknownReply |
	milter.OptNoEOHReply | milter.OptNoBodyReply

type ctxDialer struct {
	ctx  context.Context
	conn net.Conn
}

func (d *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%w to %s: %w", errDial, addr, err)
	}
	d.conn = c
	return c, nil
}

func (m *Milter) session(ctx context.Context) (*milter.ClientSession, *ctxDialer, error) {
	d := &ctxDialer{ctx: ctx}
	c := milter.NewClientWithOptions(m.network, m.address, milter.ClientOptions{
		Dialer: d, ReadTimeout: m.Timeout, WriteTimeout: m.Timeout,
		ActionMask: milterActions, ProtocolMask: milterSteps,
	})
	s, err := c.Session()
	if err != nil {
		if d.conn != nil {
			d.conn.Close()
			if strings.Contains(err.Error(), "negotiate") && !isTimeout(err) && ctx.Err() == nil {
				err = protoErr("%v (ebb offers add/change header and quarantine, no body or envelope changes)", err)
			}
		}
		return nil, d, err
	}
	return s, d, nil
}

// Scan runs one milter transaction: connect, HELO, MAIL, RCPT, header,
// body, end of message.
func (m *Milter) Scan(ctx context.Context, msg *Message) *Result {
	r := &Result{Scanner: m.Name(), Kind: Filter}
	ctx, cancel := withTimeout(ctx, m.Timeout)
	defer cancel()
	f, _, err := msg.Open()
	if err != nil {
		return failure(r, err)
	}
	defer f.Close()
	s, d, err := m.session(ctx)
	if err != nil {
		return failure(r, m.ctxErr(ctx, err))
	}
	stop := context.AfterFunc(ctx, func() { d.conn.Close() })
	defer stop()
	defer s.Close()

	act, mods, err := m.transaction(s, msg, f)
	if err != nil {
		return failure(r, m.ctxErr(ctx, err))
	}
	return milterResult(r, act, mods)
}

func (m *Milter) transaction(s *milter.ClientSession, msg *Message, f io.Reader) (*milter.Action, []milter.ModifyAction, error) {
	family, port, addr := milter.FamilyUnknown, uint16(0), ""
	if ip := net.ParseIP(msg.IP); ip != nil {
		family, addr = milter.FamilyInet, ip.String()
		if ip.To4() == nil {
			family = milter.FamilyInet6
		}
	}
	host := msg.Host
	if host == "" {
		host = "[" + msg.IP + "]"
		if msg.IP == "" {
			host = "localhost"
		}
	}
	// Macros that milters commonly read: j (our name), i (queue id),
	// auth_authen (the login).
	s.Macros(milter.CodeConn, "j", m.Host, "{daemon_name}", "ebb")
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) { return s.Conn(host, family, port, addr) },
		func() (*milter.Action, error) { return s.Helo(msg.Helo) },
		func() (*milter.Action, error) {
			if msg.User != "" {
				s.Macros(milter.CodeMail, "{auth_authen}", msg.User)
			}
			return s.Mail(msg.From, nil)
		},
	}
	for _, rc := range msg.Rcpts {
		steps = append(steps, func() (*milter.Action, error) { return s.Rcpt(rc, nil) })
	}
	for _, step := range steps {
		act, err := step()
		if err != nil {
			return nil, nil, err
		}
		if act.Code != milter.ActContinue {
			return act, nil, nil
		}
	}
	s.Macros(milter.CodeHeader, "i", msg.ID)
	br := bufio.NewReaderSize(f, 64<<10)
	// The header as every part of ebb reads it (mailhdr): the milter
	// judges the fields the user will see, and the body from where ebb's
	// header ends. A field is sent unfolded, its first 64 KiB.
	sc := mailhdr.NewScanner(br)
	for sc.Scan() {
		fl := sc.Field()
		act, err := s.HeaderField(fl.Name, fl.Value())
		if err != nil {
			return nil, nil, err
		}
		if act.Code != milter.ActContinue {
			return act, nil, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	act, err := s.HeaderEnd()
	if err != nil {
		return nil, nil, err
	}
	if act.Code != milter.ActContinue {
		return act, nil, nil
	}
	mods, act, err := s.BodyReadFrom(br)
	if err != nil {
		return nil, nil, err
	}
	return act, mods, nil
}

func (m *Milter) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("milter %s: %w", m.address, context.DeadlineExceeded)
	}
	return fmt.Errorf("milter %s: %w", m.address, err)
}

func milterResult(r *Result, act *milter.Action, mods []milter.ModifyAction) *Result {
	if act == nil {
		return failure(r, protoErr("the milter ended the message without an answer"))
	}
	for _, mod := range mods {
		switch mod.Code {
		case milter.ActAddHeader, milter.ActInsertHeader, milter.ActChangeHeader:
			if mod.HeaderValue == "" {
				continue // a deletion: the spool file is not rewritten
			}
			r.Headers = append(r.Headers, Field{mod.HeaderName, strings.TrimLeft(mod.HeaderValue, " ")})
		case milter.ActQuarantine:
			r.Hold = mod.Reason
			if r.Hold == "" {
				r.Hold = "quarantined by " + r.Scanner
			}
		}
	}
	r.Status = Clean
	switch act.Code {
	case milter.ActAccept, milter.ActContinue:
		r.Action = "accept"
	case milter.ActReject:
		r.Status, r.Action, r.Code = Refuse, "reject", 550
	case milter.ActTempFail:
		r.Status, r.Action, r.Code = Defer, "tempfail", 451
	case milter.ActDiscard:
		// Accepted and thrown away would lose mail silently; ebb holds
		// it instead, where mailq shows it and an admin decides.
		r.Action = "discard"
		if r.Hold == "" {
			r.Hold = r.Scanner + " asked to discard"
		}
	case milter.ActReplyCode:
		r.Action, r.Code = "reply "+strconv.Itoa(act.SMTPCode), act.SMTPCode
		r.Text = strings.TrimSpace(act.SMTPText)
		// The text may begin with an enhanced code: "5.7.1 Virus found".
		// A reply code is a refusal (5xx) or a deferral (4xx); any other
		// code carries no verdict (milter protocol: SMFIR_REPLYCODE).
		switch {
		case act.SMTPCode >= 500 && act.SMTPCode <= 599:
			r.Status = Refuse
		case act.SMTPCode >= 400 && act.SMTPCode <= 499:
			r.Status = Defer
		default:
			return failure(r, protoErr("the milter replied with the code %d, which is neither 4xx nor 5xx", act.SMTPCode))
		}
	default:
		return failure(r, protoErr("milter answered with action %q", rune(act.Code)))
	}
	if r.Text != "" {
		if f := strings.Fields(r.Text); len(f) > 0 && isEnhanced(f[0]) {
			r.Text = strings.TrimSpace(strings.TrimPrefix(r.Text, f[0]))
		}
	}
	return r
}

func isEnhanced(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 {
		return false
	}
	for _, x := range p {
		if _, err := strconv.Atoi(x); err != nil {
			return false
		}
	}
	return true
}

// Ping opens a session (option negotiation) and closes it.
func (m *Milter) Ping(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, m.Timeout)
	defer cancel()
	s, _, err := m.session(ctx)
	if err != nil {
		return m.ctxErr(ctx, err)
	}
	return s.Close()
}
