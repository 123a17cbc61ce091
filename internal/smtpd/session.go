package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

// session is ebb's side of one SMTP connection: the engine's Handler
// (proto.go). It lives as long as the connection; STARTTLS renews what it
// knows of the client (Hello with the TLS state).
type session struct {
	l    *listener
	c    *conn
	log  *slog.Logger
	info SessionInfo

	from     string
	mailOpts MailOptions
	hasFrom  bool
	rcpts    []string
	rcptDSN  map[string]queue.RecipientDSN
	txn      int
	// closeWith is the 421 that ends the connection after a message the
	// client left by the data timeout (abandoned): the engine sends it,
	// with the ref it was journaled under (Refusing, closing.go).
	closeWith *Reply
}

func newSession(l *listener, c *conn) *session {
	s := &session{l: l, c: c, log: l.srv.log.With("conn", c.id)}
	s.info = SessionInfo{ConnID: c.id, Kind: l.Kind, RemoteIP: c.ip}
	return s
}

// Hello takes the client's HELO/EHLO name, refusing one that no header
// can carry (checkHelo, received.go). The first greeting over TLS starts
// what the session knows afresh (RFC 3207 §4.2): no AUTH from before.
func (s *session) Hello(name string, st *tls.ConnectionState) error {
	if err := checkHelo(name); err != nil {
		return err
	}
	if st != nil && s.info.TLS == nil {
		s.info = SessionInfo{ConnID: s.c.id, Kind: s.l.Kind, RemoteIP: s.c.ip, TLS: st}
	}
	s.info.Helo = name
	s.log.Debug("smtp helo", "helo", name, "tls", st != nil)
	return nil
}

func (s *session) srv() *Server { return s.l.srv }

func (s *session) Reset() {
	s.from, s.hasFrom, s.rcpts, s.rcptDSN = "", false, nil, nil
	s.mailOpts = MailOptions{}
	s.info.Size = 0
}

func (s *session) Mail(from string, opts *MailOptions) error {
	ctx := s.srv().ctx
	if opts != nil && opts.RequireTLS && s.info.TLS == nil {
		// RFC 8689 §4.1: REQUIRETLS is offered only after STARTTLS; a
		// message that asks for it over a clear session is already not
		// protected, so it is refused (5.7.10, RFC 5248: encryption
		// needed) rather than relayed with a promise we cannot keep.
		return s.refuse("mail", from, &Reply{Code: 530, Enhanced: [3]int{5, 7, 10},
			Message: "REQUIRETLS needs a TLS session: use STARTTLS first"})
	}
	if err := s.l.Policy.Mail(ctx, &s.info, from, opts); err != nil {
		return s.refuse("mail", from, err)
	}
	s.from, s.hasFrom = from, true
	if opts != nil {
		s.mailOpts = *opts
		s.info.Size = opts.Size
	}
	return nil
}

func (s *session) Rcpt(to string, opts *RcptOptions) error {
	ctx := s.srv().ctx
	if !strings.Contains(to, "@") {
		// RCPT TO:<Postmaster> (RFC 5321 §4.1.1.3): the host's own
		// postmaster, which a server must accept (§4.5.1).
		pm, err := s.srv().postmaster(ctx)
		if err != nil {
			return s.trouble("rcpt", "smtp rcpt deferred", err, s.from, []string{to}, 0, slog.String("addr", to))
		}
		to = pm
	}
	if err := s.l.Policy.Rcpt(ctx, &s.info, to, opts); err != nil {
		return s.refuse("rcpt", to, err)
	}
	s.rcpts = append(s.rcpts, to)
	if opts != nil && (len(opts.Notify) > 0 || opts.ORCPT != "") {
		p := queue.RecipientDSN{ORCPTType: opts.ORCPTType, ORCPT: opts.ORCPT, Notify: opts.Notify}
		if s.rcptDSN == nil {
			s.rcptDSN = map[string]queue.RecipientDSN{}
		}
		s.rcptDSN[to] = p
	}
	return nil
}

// refuse turns a policy's answer into the reply: a *Reply as it is with
// a reference id added, anything else as our temporary trouble with one. Either way the refusal goes to the observer (refusal.go).
func (s *session) refuse(cmd, addr string, err error) error {
	from, to := s.from, []string(nil)
	switch cmd {
	case "rcpt":
		to = []string{addr}
	case "mail":
		from = addr
	}
	var se *Reply
	if errors.As(err, &se) {
		rep, ref := withRef(se)
		rep, first := s.refused(cmd, "", from, rep, policyError(cmd, addr, se, ref), to, 0)
		if first {
			s.log.Info("smtp "+cmd+" refused", "addr", addr, "from", s.from, "code", rep.Code,
				"reply", rep.Message, "ref", ref, "remote", s.info.RemoteIP)
		}
		return rep
	}
	return s.trouble(cmd, "smtp "+cmd+" deferred", err, from, to, 0, slog.String("addr", addr))
}

// trouble logs our own failure at stage and returns the 4xx for it. The
// reply holds only the public text and the reference id; the log and the
// observer hold everything.
func (s *session) trouble(stage, msg string, err error, from string, to []string, size int64, attrs ...slog.Attr) error {
	d := diag.From(err, "ebb serve", "receive")
	rep := troubleReply(d) // reply.go
	// Our trouble of one kind: the same operation on the same path for
	// the same reason (the reply's words are the same for every trouble).
	sent, first := s.refused(stage, fmt.Sprintf("%s trouble %d %s %s %s", stage, rep.Code, d.Op, d.Path, d.Reason), from, rep, d, to, size)
	if first {
		args := []any{"ref", d.Ref, "code", rep.Code, "err", d.Sentence(), "diag", d}
		for _, a := range attrs {
			args = append(args, a)
		}
		s.log.Error(msg, args...)
	}
	return sent
}

// dataReader remembers why reading the message stopped, so that the
// client's trouble (too big, a broken connection) is told from ours however
// the spool wraps it.
type dataReader struct {
	r   io.Reader
	n   int64
	err error
}

func newDataReader(r io.Reader) *dataReader {
	return &dataReader{r: r} // CRLF line ends already (lineEnds, barelf.go)
}

func (d *dataReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

// Data streams the message into the spool. The 250 goes out only after
// the queue's Receive has returned, that is after message and envelope
// are durable; nothing is held in memory on the way.
func (s *session) Data(r io.Reader) error {
	srv := s.srv()
	c := s.c
	c.busy.Store(true) // until the engine waits for the next command

	s.txn++
	now := time.Now()
	id := c.id + "." + strconv.Itoa(s.txn)
	m := s.envelope(received(&s.info, srv.hostname(), id, s.rcpts, s.mailOpts.UTF8, now))
	// Our trouble is answered (trouble), logged and journaled within the
	// bound by the refusal: the queue writes no record of its own.
	opt := queue.ReceiveOptions{Via: string(s.l.Kind), TLS: s.info.TLS != nil, Answers: true}

	dr := newDataReader(r)
	qid, err := srv.spool.Receive(srv.ctx, m, dr, opt)
	if dr.err != nil {
		// The client's side: the message is not accepted, and the spool
		// has thrown away what it had.
		var se *Reply
		if !errors.As(dr.err, &se) {
			// The size limit and a line too long come from the engine as
			// their reply; anything else is the client leaving.
			return s.abandoned(m, dr)
		}
		se, ref := withRef(se)
		srv.metrics.Message("rejected", dr.n)
		se, first := s.refused("data", "", s.from, se, policyError("data", "", se, ref), m.Recipients, dr.n)
		if first {
			s.log.Info("smtp message not accepted", "from", s.from, "rcpts", len(m.Recipients),
				"bytes", dr.n, "code", se.Code, "reason", dr.err.Error(), "ref", ref)
		}
		return se
	}
	if de, ok := verdictOf(err); ok {
		// A verdict on the message itself (a virus, spam, a DMARC reject)
		// from a check after DATA: its 5xx is the reply, not our trouble.
		rep := ReplyFor(err, true) // reply.go, shared with ebb route
		s.log.Info("smtp message refused", "from", s.from, "rcpts", len(m.Recipients),
			"bytes", dr.n, "code", rep.Code, "reply", rep.Message, "ref", de.Ref, "diag", de)
		srv.metrics.Message("rejected", dr.n)
		s.observe("data", s.from, rep, de, m.Recipients, dr.n) // journaled with its queue id: not bound (flood.go)
		return rep
	}
	if err != nil {
		srv.metrics.Message("deferred", dr.n)
		return s.trouble("data", "smtp message deferred", err, s.from, m.Recipients, dr.n, slog.String("from", s.from),
			slog.Int("rcpts", len(m.Recipients)), slog.Int64("bytes", dr.n))
	}
	c.messages.Add(1)
	srv.metrics.Message("accepted", dr.n)
	s.log.Info("smtp message accepted", "queue_id", qid, "from", s.from, "rcpts", len(m.Recipients),
		"bytes", dr.n, "remote", s.info.RemoteIP, "helo", s.info.Helo, "tls", opt.TLS,
		"ms", time.Since(now).Milliseconds())
	return &Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Message: "Ok: queued as " + qid}
}

// abandoned is a message the client left during DATA or BDAT: a BDAT
// transfer ended without LAST (RSET, QUIT, EHLO), a connection that
// closed, broke or went silent. No reply reaches the client (the engine
// sends none on a broken connection, and only its 421 on a timeout), so
// the ref is the log's: it is journaled with how the client left, and
// without a reply, so that ebb explain REF tells what happened rather
// than a refusal nobody read.
func (s *session) abandoned(m *queue.Envelope, dr *dataReader) error {
	srv := s.srv()
	var how string
	hint := "nothing to do on this side: the client must send the message again; if one client keeps leaving, look at its log and at the network between"
	var ne net.Error
	switch {
	case errors.As(dr.err, &ne) && ne.Timeout() && sessionEnded(s.c.Conn):
		// The session's bound, not the data timeout (closing.go).
		how = "the session reached its longest time (" + s.maxSessionSetting() + ") in the middle of the message"
		hint = "nothing to do on this side when it is rare: the client sends the message again; raise " + s.maxSessionSetting() +
			" if real clients need longer to send their messages"
	case errors.Is(dr.err, errAborted):
		how = "the client ended the BDAT transfer without a LAST chunk"
	case errors.Is(dr.err, io.ErrUnexpectedEOF), errors.Is(dr.err, io.EOF), errors.Is(dr.err, net.ErrClosed):
		how = "the client closed the connection in the middle of the message"
	case errors.As(dr.err, &ne) && ne.Timeout():
		how = "the client sent nothing more within the data timeout (smtp.data_timeout)"
	default:
		how = "the connection broke in the middle of the message (" + dr.err.Error() + ")"
	}
	d := &diag.Error{Component: "ebb serve", Op: "data", Doing: "receive a message from", Path: s.info.RemoteIP,
		Reason: fmt.Sprintf("%s, after %s of it; nothing was accepted", how, diag.HumanBytes(uint64(dr.n))),
		Class:  diag.Temporary,
		Hint:   hint}
	d.EnsureRef()
	srv.metrics.Message("rejected", dr.n)
	logIt := func() {
		s.log.Info("smtp message abandoned by the client", "from", s.from, "rcpts", len(m.Recipients),
			"bytes", dr.n, "reason", dr.err.Error(), "ref", d.Ref, "remote", s.info.RemoteIP)
	}
	kind := "data abandoned " + how
	if errors.As(dr.err, &ne) && ne.Timeout() {
		// The engine closes the connection with a 421 (RFC 5321
		// §4.5.3.2): that reply is sent, with this ref.
		rep := &Reply{Code: 421, Enhanced: [3]int{4, 4, 2},
			Message: srv.hostname() + " Timeout waiting for the client, closing connection (ref " + d.Ref + ")"}
		d.SMTPCode, d.Enhanced, d.Public = rep.Code, rep.Enhanced, rep.Message
		rep, first := s.refused("data", kind, s.from, rep, d, m.Recipients, dr.n)
		if first {
			logIt()
		}
		s.closeWith = rep
		return rep
	}
	if _, first := s.refused("data", kind, s.from, &Reply{}, d, m.Recipients, dr.n); first {
		logIt()
	}
	// Never sent (see above); the engine needs an answer all the same.
	return &Reply{Code: 451, Enhanced: [3]int{4, 4, 2}, Message: "Error reading the message, try again"}
}

// AuthMechanisms and Auth make every session an AuthHandler; the engine
// offers AUTH only over TLS, when the listener's Authenticator names
// mechanisms.
func (s *session) AuthMechanisms() []string {
	if s.l.Auth == nil {
		return nil
	}
	return s.l.Auth.Mechanisms(&s.info)
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.l.Auth == nil {
		return nil, errUnknownMechanism
	}
	srv, err := s.l.Auth.Server(s.srv().ctx, &s.info, mech)
	if err != nil {
		s.authRefused(err)
		return nil, err
	}
	return observedSASL{Server: srv, s: s}, nil
}
