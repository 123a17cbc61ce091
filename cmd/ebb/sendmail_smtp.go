package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/sendmail"
)

// sendmailSMTP is -bs: SMTP on stdin/stdout, for programs that would rather
// speak SMTP to a pipe than pass arguments. The caller is a local user, as
// with the rest of sendmail: each message goes through the pickup like
// any other, with Date, Message-ID and From added when missing.
func sendmailSMTP(e *env, cfg *config.Config, drop *pickup.Drop) int {
	caller := localCaller(cfg)
	conn := &stdioConn{r: e.stdin, w: e.stdout, done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &stdioSession{e: e, drop: drop, caller: caller}, nil
	}))
	srv.Domain = caller.Hostname
	srv.MaxMessageBytes = int64(cfg.SMTP.MaxMessageSize)
	srv.MaxRecipients = cfg.SMTP.MaxRecipients
	srv.MaxLineLength = 8192
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = nopLogger{}
	if err := srv.Serve(&oneListener{c: conn}); err != nil && !errors.Is(err, net.ErrClosed) {
		return diag.ExIOErr
	}
	return 0
}

type stdioSession struct {
	e      *env
	drop   *pickup.Drop
	caller sendmail.Caller
	from   string
	rcpts  []string
	body   string
}

func (s *stdioSession) Reset()        { s.from, s.rcpts, s.body = "", nil, "" }
func (s *stdioSession) Logout() error { return nil }

func (s *stdioSession) Mail(from string, opts *smtp.MailOptions) error {
	s.from = from
	if opts != nil {
		s.body = string(opts.Body)
	}
	return nil
}

func (s *stdioSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, sendmail.Qualify(to, s.caller.Domain))
	return nil
}

func (s *stdioSession) Data(r io.Reader) error {
	in := bufio.NewReaderSize(sendmail.NewInput(r, true), 64<<10)
	h, err := sendmail.ReadHeader(in)
	if err != nil {
		io.Copy(io.Discard, r)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	from := s.from
	if from == "" {
		from = s.caller.Login + "@" + s.caller.Domain
	}
	h.Apply(sendmail.Fixup{Now: time.Now(), Hostname: s.caller.Hostname, From: from, FullName: s.caller.Name})
	env := &pickup.Envelope{From: s.from, Recipients: s.rcpts, BodyType: s.body, Created: time.Now().UTC()}
	res, err := s.drop.Submit(s.e.ctx, env, func(w io.Writer) error {
		if _, err := h.WriteTo(w); err != nil {
			return err
		}
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		var ref *pickup.Refusal
		if errors.As(err, &ref) {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: ref.Reply.Sentence}
		}
		d := diag.From(err, "sendmail", "submit")
		// A local caller may see the whole sentence: it is its own host.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: strings.ReplaceAll(d.Sentence(), "\n", " ")}
	}
	msg := "Ok: queued"
	if res.QueueID != "" {
		msg += " as " + res.QueueID
	} else {
		msg += " for pickup"
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: msg}
}

// stdioConn is stdin and stdout as one net.Conn.
type stdioConn struct {
	r    io.Reader
	w    io.Writer
	once sync.Once
	done chan struct{}
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdin" }

// oneListener hands out one connection, then waits for it to end.
type oneListener struct {
	c      *stdioConn
	handed bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.handed {
		l.handed = true
		return l.c, nil
	}
	<-l.c.done
	return nil, net.ErrClosed
}
func (l *oneListener) Close() error   { return l.c.Close() }
func (l *oneListener) Addr() net.Addr { return stdioAddr{} }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}
