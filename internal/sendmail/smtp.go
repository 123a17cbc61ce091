package sendmail

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// ServeSMTP is -bs: SMTP on in and out, for programs that would rather
// speak SMTP to a pipe than pass arguments. The caller is a local user,
// as with the rest of sendmail: each message goes through drop like any
// other, with Date, Message-ID and From added when missing. The protocol
// is the daemon's own engine (smtpd.ServeConn), with cfg's limits. The
// error is the pipe's (the session ended without QUIT).
func ServeSMTP(ctx context.Context, cfg *config.Config, drop *pickup.Drop, caller Caller, in io.Reader, out io.Writer) error {
	p := &smtpd.Protocol{
		Hostname:        caller.Hostname,
		MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize),
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		NoDSN:           true, // the pickup keeps no DSN parameters
	}
	return smtpd.ServeConn(&stdioConn{r: in, w: out}, &stdioSession{ctx: ctx, drop: drop, caller: caller}, p)
}

type stdioSession struct {
	ctx    context.Context
	drop   *pickup.Drop
	caller Caller
	from   string
	rcpts  []string
	body   string
}

func (s *stdioSession) Hello(string, *tls.ConnectionState) error { return nil }

func (s *stdioSession) Reset() { s.from, s.rcpts, s.body = "", nil, "" }

func (s *stdioSession) Mail(from string, opts *smtpd.MailOptions) error {
	s.from, s.body = from, opts.Body
	return nil
}

func (s *stdioSession) Rcpt(to string, opts *smtpd.RcptOptions) error {
	s.rcpts = append(s.rcpts, Qualify(to, s.caller.Domain))
	return nil
}

func (s *stdioSession) Data(r io.Reader) error {
	in := bufio.NewReaderSize(NewInput(r, true), 64<<10)
	h, err := ReadHeader(in)
	if err != nil {
		io.Copy(io.Discard, r)
		return &smtpd.Reply{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: err.Error()}
	}
	from := s.from
	if from == "" {
		from = s.caller.Login + "@" + s.caller.Domain
	}
	h.Apply(Fixup{Now: time.Now(), Hostname: s.caller.Hostname, From: from, FullName: s.caller.Name})
	env := &pickup.Envelope{From: s.from, Recipients: s.rcpts, BodyType: s.body, Created: time.Now().UTC()}
	res, err := s.drop.Submit(s.ctx, env, func(w io.Writer) error {
		if _, err := h.WriteTo(w); err != nil {
			return err
		}
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		var ref *pickup.Refusal
		if errors.As(err, &ref) {
			return &smtpd.Reply{Code: 554, Enhanced: [3]int{5, 0, 0}, Message: ref.Reply.Sentence}
		}
		d := diag.From(err, "sendmail", "submit")
		// A local caller may see the whole sentence: it is its own host.
		return &smtpd.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: strings.ReplaceAll(d.Sentence(), "\n", " ")}
	}
	msg := "Ok: queued"
	if res.QueueID != "" {
		msg += " as " + res.QueueID
	} else {
		msg += " for pickup"
	}
	return &smtpd.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Message: msg}
}

// stdioConn is stdin and stdout as one net.Conn (without deadlines: the
// caller is a local program on a pipe).
type stdioConn struct {
	r io.Reader
	w io.Writer
}

func (c *stdioConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error)        { return c.w.Write(p) }
func (c *stdioConn) Close() error                       { return nil }
func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdin" }
