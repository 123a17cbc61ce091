package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Spamd is a client of SpamAssassin's spamd (spamd/PROTOCOL, SPAMC/1.5).
// It sends SYMBOLS, which gives the verdict, the score and the rule names
// in one round trip without rewriting the message.
type Spamd struct {
	Addr    string // host:port or a Unix socket path
	Timeout time.Duration
	User    string // the User header, for per-user preferences ("" none)
}

func (s *Spamd) Name() string { return "spamd" }
func (s *Spamd) Kind() Kind   { return Spam }

// Scan checks the message with SYMBOLS.
func (s *Spamd) Scan(ctx context.Context, m *Message) *Result {
	r := &Result{Scanner: s.Name(), Kind: Spam}
	rep, err := s.request(ctx, "SYMBOLS", m)
	if err != nil {
		return failure(r, err)
	}
	r.Score, r.Required = rep.score, rep.required
	r.Status = Ham
	if rep.spam {
		r.Status = IsSpam
	}
	for _, sym := range strings.Split(strings.TrimSpace(rep.body), ",") {
		if sym = strings.TrimSpace(sym); sym != "" {
			r.Symbols = append(r.Symbols, sym)
		}
	}
	return r
}

// Report is spamd's REPORT of the message: the rules that hit, with their
// points and descriptions, as ebb scan --report prints it.
func (s *Spamd) Report(ctx context.Context, m *Message) (string, error) {
	rep, err := s.request(ctx, "REPORT", m)
	if err != nil {
		return "", err
	}
	return rep.body, nil
}

// request sends verb with the message and reads the reply.
func (s *Spamd) request(ctx context.Context, verb string, m *Message) (*spamdReply, error) {
	ctx, cancel := withTimeout(ctx, s.Timeout)
	defer cancel()
	f, size, err := m.Open()
	if err != nil {
		return nil, err // errSpool
	}
	defer f.Close()
	conn, err := dial(ctx, s.Addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// spamd matches header names case-sensitively: "Content-length" with a
	// lower-case l, or it ignores the header and reads to EOF. We send the
	// exact spelling and also half-close, as PROTOCOL asks.
	head := fmt.Sprintf("%s SPAMC/1.5\r\nContent-length: %d\r\n", verb, size)
	if s.User != "" && !strings.ContainsAny(s.User, "\r\n") {
		head += "User: " + s.User + "\r\n"
	}
	head += "\r\n"
	w := bufio.NewWriterSize(conn, 64<<10)
	w.WriteString(head)
	n, err := io.Copy(w, f)
	if err == nil {
		err = w.Flush()
	}
	if err == nil && n != size {
		err = fmt.Errorf("%w: sent %d of %d bytes", errSpool, n, size)
	}
	if err != nil {
		if errors.Is(err, errSpool) {
			return nil, err
		}
		return nil, s.ctxErr(ctx, err)
	}
	if cw, ok := conn.(closeWriter); ok {
		cw.CloseWrite()
	}
	rep, err := readSpamdReply(bufio.NewReader(conn))
	if err != nil {
		return nil, s.ctxErr(ctx, err)
	}
	return rep, nil
}

func (s *Spamd) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("spamd at %s: %w", s.Addr, context.DeadlineExceeded)
	}
	return fmt.Errorf("spamd at %s: %w", s.Addr, err)
}

type spamdReply struct {
	code            int
	message         string
	spam            bool
	score, required float64
	body            string
}

// readSpamdReply reads "SPAMD/<ver> <code> <message>", header lines up to
// the empty line, and the body of Content-length bytes (or to EOF). The
// version is not relied on: spamd answers SPAMD/1.1 to a SPAMC/1.5 request.
func readSpamdReply(br *bufio.Reader) (*spamdReply, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SPAMD/") {
		return nil, protoErr("spamd's reply begins %q", line)
	}
	rep := &spamdReply{}
	rep.code, err = strconv.Atoi(f[1])
	if err != nil {
		return nil, protoErr("spamd's status line %q has no code", line)
	}
	if len(f) == 3 {
		rep.message = f[2]
	}
	if rep.code != 0 {
		// A sysexits code: EX_PROTOCOL 76, EX_UNAVAILABLE 69, EX_TIMEOUT 79…
		return nil, protoErr("spamd refused the check: %d %s", rep.code, rep.message)
	}
	length := -1
	sawSpam := false
	for i := 0; ; i++ {
		if i > 64 {
			return nil, protoErr("spamd's reply has too many header lines")
		}
		h, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if h == "" {
			break
		}
		name, val, ok := strings.Cut(h, ":")
		if !ok {
			return nil, protoErr("spamd's header line %q has no colon", h)
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(name) {
		case "content-length":
			length, err = strconv.Atoi(val)
			if err != nil || length < 0 || length > 1<<20 {
				return nil, protoErr("spamd's Content-length %q", val)
			}
		case "spam":
			// "True ; 1000.0 / 5.0" (Yes/No for REPORT_IFSPAM).
			st, scores, ok := strings.Cut(val, ";")
			sc, req, ok2 := strings.Cut(scores, "/")
			if !ok || !ok2 {
				return nil, protoErr("spamd's Spam header %q", val)
			}
			switch strings.TrimSpace(st) {
			case "True", "Yes":
				rep.spam = true
			case "False", "No":
			default:
				return nil, protoErr("spamd's Spam header %q", val)
			}
			if rep.score, err = strconv.ParseFloat(strings.TrimSpace(sc), 64); err != nil {
				return nil, protoErr("spamd's score %q", sc)
			}
			if rep.required, err = strconv.ParseFloat(strings.TrimSpace(req), 64); err != nil {
				return nil, protoErr("spamd's threshold %q", req)
			}
			sawSpam = true
		}
	}
	if !sawSpam {
		return nil, protoErr("spamd's reply has no Spam header")
	}
	var body []byte
	if length >= 0 {
		body = make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, protoErr("spamd's reply was cut short: %v", err)
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(br, 1<<20))
		if err != nil {
			return nil, err
		}
	}
	rep.body = string(body)
	return rep, nil
}

// readLine reads one CRLF (or LF) line of at most 8 KiB.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF {
				return "", protoErr("the reply ended early")
			}
			return "", err
		}
		b = append(b, part...)
		if len(b) > 8192 {
			return "", protoErr("a reply line is longer than 8 KiB")
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// Ping sends PING (with the empty header block SPAMC/1.5 asks for).
func (s *Spamd) Ping(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, s.Timeout)
	defer cancel()
	conn, err := dial(ctx, s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "PING SPAMC/1.5\r\n\r\n"); err != nil {
		return err
	}
	line, err := readLine(bufio.NewReader(conn))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SPAMD/") || !strings.HasSuffix(line, "PONG") {
		return protoErr("spamd answered PING with %q", line)
	}
	return nil
}
