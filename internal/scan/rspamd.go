package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Rspamd is a client of rspamd's normal worker over HTTP: POST /checkv2
// with the envelope in request headers (rspamd protocol.md), the answer in
// JSON. The HTTP client keeps connections alive where rspamd allows it.
type Rspamd struct {
	Addr     string // host:port, or a Unix socket path
	Timeout  time.Duration
	Password string
	client   *http.Client
}

// NewRspamd makes a client with its own connection pool.
func NewRspamd(addr string, timeout time.Duration, password string) *Rspamd {
	r := &Rspamd{Addr: addr, Timeout: timeout, Password: password}
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	if strings.HasPrefix(addr, "/") {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	r.client = &http.Client{Transport: tr}
	return r
}

func (r *Rspamd) Name() string { return "rspamd" }
func (r *Rspamd) Kind() Kind   { return Spam }

func (r *Rspamd) url(path string) string {
	host := r.Addr
	if strings.HasPrefix(host, "/") {
		host = "rspamd"
	}
	return "http://" + host + path
}

// rspamdReply is the part of /checkv2's JSON that ebb uses.
type rspamdReply struct {
	IsSkipped bool `json:"is_skipped"`
	// Score and Action are the verdict: nil when the reply lacks them.
	Score         *float64 `json:"score"`
	RequiredScore float64  `json:"required_score"`
	Action        *string  `json:"action"`
	Symbols       map[string]struct {
		Score float64 `json:"score"`
	} `json:"symbols"`
	Messages map[string]any `json:"messages"`
	Error    string         `json:"error"`
}

// Scan posts the message to /checkv2.
func (r *Rspamd) Scan(ctx context.Context, m *Message) *Result {
	res := &Result{Scanner: r.Name(), Kind: Spam}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	f, size, err := m.Open()
	if err != nil {
		return failure(res, err)
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url("/checkv2"), f)
	if err != nil {
		return failure(res, err)
	}
	req.ContentLength = size
	h := req.Header
	set := func(k, v string) {
		if v != "" && !strings.ContainsAny(v, "\r\n") {
			h.Add(k, v)
		}
	}
	set("From", m.From)
	for _, rc := range m.Rcpts {
		set("Rcpt", rc)
	}
	set("IP", m.IP)
	set("Helo", m.Helo)
	set("Hostname", m.Host)
	set("Queue-Id", m.ID)
	set("User", m.User)
	set("Password", r.Password)
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return failure(res, fmt.Errorf("rspamd at %s: %w", r.Addr, context.DeadlineExceeded))
		}
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return failure(res, fmt.Errorf("%w to %s: %w", errDial, r.Addr, err))
		}
		return failure(res, fmt.Errorf("rspamd at %s: %w", r.Addr, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		if ctx.Err() != nil {
			err = context.DeadlineExceeded
		}
		return failure(res, fmt.Errorf("rspamd at %s: reading the reply: %w", r.Addr, err))
	}
	var rep rspamdReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return failure(res, protoErr("rspamd answered %s with what is not JSON: %v", resp.Status, err))
	}
	if resp.StatusCode != http.StatusOK || rep.Error != "" {
		if strings.Contains(rep.Error, "size") || resp.StatusCode == http.StatusRequestEntityTooLarge {
			res.Status, res.Cause, res.Detail = Skipped, CauseScannerLimit, "over rspamd's max_message"
			res.Err = fmt.Errorf("rspamd: %s %s", resp.Status, rep.Error)
			return res
		}
		return failure(res, protoErr("rspamd answered %s: %s", resp.Status, rep.Error))
	}
	return rspamdResult(res, &rep)
}

// rspamdResult maps rspamd's action (conf/actions.conf spells them with
// spaces) onto a status. A reply without its verdict (no action or no
// score: "{}", a proxy's or another endpoint's JSON) or with an action ebb
// does not know is not ham: it is unscanned (protocol), and the failure
// policy decides. A reply saying rspamd skipped its checks (is_skipped,
// rspamd's settings) is skipped, not ham with score 0.
func rspamdResult(res *Result, rep *rspamdReply) *Result {
	action := ""
	if rep.Action != nil {
		action = *rep.Action
	}
	refuses := action == "reject" || action == "soft reject" || action == "greylist"
	if rep.IsSkipped && !refuses {
		// rspamd's answer to Flags: skip, or a settings rule applying
		// flags = ["skip"]: no symbol was checked, whatever the score.
		res.Status, res.Cause, res.Action = Skipped, CauseScannerSkip, action
		res.Detail = "rspamd skipped its checks (is_skipped, rspamd's settings)"
		res.Err = fmt.Errorf("rspamd answered is_skipped: true with action %q: it checked nothing", action)
		return res
	}
	switch {
	case rep.Action == nil && rep.Score == nil:
		return failure(res, protoErr("rspamd's reply has no action and no score: no verdict (is scan.rspamd.address rspamd's normal worker, port 11333?)"))
	case rep.Action == nil:
		return failure(res, protoErr("rspamd's reply has a score but no action: no verdict"))
	case rep.Score == nil:
		return failure(res, protoErr("rspamd's reply has the action %q but no score", action))
	}
	res.Score, res.Required, res.Action = *rep.Score, rep.RequiredScore, action
	for name, s := range rep.Symbols {
		res.Symbols = append(res.Symbols, fmt.Sprintf("%s(%.2f)", name, s.Score))
	}
	sort.Strings(res.Symbols)
	if msg, ok := rep.Messages["smtp_message"].(string); ok {
		res.Text = msg
	}
	switch action {
	case "reject":
		res.Status = Refuse
	case "soft reject", "greylist":
		res.Status = Defer
	case "add header", "rewrite subject":
		res.Status = IsSpam
	case "no action":
		res.Status = Ham
	default:
		return failure(res, protoErr("rspamd answered the action %q, which ebb does not know (reject, soft reject, greylist, add header, rewrite subject, no action)", action))
	}
	return res
}

// Ping asks GET /ping for "pong".
func (r *Rspamd) Ping(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("/ping"), nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w to %s: %w", errDial, r.Addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	// The body is "pong\r\n": compare trimmed.
	if strings.TrimSpace(string(b)) != "pong" {
		return protoErr("rspamd answered /ping with %s %q", resp.Status, b)
	}
	return nil
}
