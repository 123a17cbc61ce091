package sieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"regexp"
	"strings"
	"sync"

	"github.com/emersion/go-message"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// RFC 5173: the body test, with :raw, :content and :text transforms.

// registerBody adds the specs of this file (registerAll).
func registerBody() {
	tags := append([]tagDef{}, matchTags...)
	tags = append(tags,
		tagDef{name: "raw", group: "transform"},
		tagDef{name: "content", group: "transform", val: argList},
		tagDef{name: "text", group: "transform"})
	register(&spec{name: "body", ext: "body", test: true, tags: tags,
		pos: []posDef{{"key list", argList}}, buildTest: buildBody})
}

type bodyTest struct {
	transform string // "raw", "content", "text"
	types     []string
	m         *matcher
}

func buildBody(c *compiler, n *node, a *args) test {
	t := &bodyTest{transform: a.group["transform"]}
	if t.transform == "" {
		t.transform = "text"
	}
	if ct, ok := a.tags["content"]; ok {
		for _, s := range ct.strs {
			t.types = append(t.types, lower(strings.TrimSpace(s)))
		}
	}
	t.m = c.compileMatcher(n, a, a.pos[0])
	if t.m == nil {
		return nil
	}
	// Pigeonhole's body test leaves the match variables alone.
	t.m.setsMatch = false
	if t.m.mt == mCount || t.m.mt == mValue {
		// RFC 5173 §5 does not define relational matches on the body;
		// Pigeonhole accepts them, and so do we (each part is one value).
	}
	return t
}

func (t *bodyTest) eval(r *run) (bool, error) {
	texts, err := r.bodyTexts(t.transform, t.types)
	if err != nil {
		return false, err
	}
	r.tracef("  body transform :%s", t.transform)
	return t.m.match(r, texts)
}

// bodyTexts returns the texts a transform yields, cached per run. Each is
// read up to Limits.MaxBodyBytes; the rest of a larger part is not examined.
func (r *run) bodyTexts(transform string, types []string) ([]string, error) {
	key := transform + "\x00" + strings.Join(types, "\x00")
	if v, ok := r.bodyCache[key]; ok {
		return v, nil
	}
	if r.bodyCache == nil {
		r.bodyCache = map[string][]string{}
	}
	limit := r.s.limits.MaxBodyBytes
	body, err := r.msg.Body()
	if err != nil {
		return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to read the message body", Err: err}
	}
	var out []string
	if transform == "raw" {
		b, err := io.ReadAll(io.LimitReader(body, limit))
		if err != nil {
			return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to read the message body", Err: err}
		}
		out = []string{string(b)}
	} else {
		if transform == "text" {
			types = []string{"text"}
		}
		out, err = r.mimeTexts(body, types, transform == "text", limit)
		if err != nil {
			return nil, err
		}
	}
	if err := r.step(int64(len(out))); err != nil {
		return nil, err
	}
	r.bodyCache[key] = out
	return out, nil
}

// mimeTexts walks the MIME structure and returns the decoded text of every
// leaf part whose content type matches one of types (RFC 5173 §5.2: "text"
// matches every text/* type, "text/plain" only that one, "" every part).
func (r *run) mimeTexts(body io.Reader, types []string, stripHTML bool, limit int64) ([]string, error) {
	if plainSinglePart(r.msg.Header()) {
		// The common case, a plain text message in UTF-8 or ASCII without
		// transfer encoding, needs no MIME parser.
		if !contentTypeMatches("text/plain", types) {
			return nil, nil
		}
		if err := r.step(2); err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(body, limit))
		if err != nil {
			return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to read the message body", Err: err}
		}
		return []string{string(b)}, nil
	}
	var hb bytes.Buffer
	for _, f := range r.msg.Header() {
		hb.WriteString(f.Name)
		hb.WriteString(":")
		hb.WriteString(f.Value)
		hb.WriteString("\r\n")
	}
	hb.WriteString("\r\n")
	ent, err := message.ReadWithOptions(io.MultiReader(&hb, body), &message.ReadOptions{MaxHeaderBytes: MaxHeaderBytes})
	if ent == nil {
		return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to parse the message body", Err: err}
	}
	w := &bodyWalk{r: r, types: types, stripHTML: stripHTML, budget: limit}
	if err := w.entity(ent, 0); err != nil {
		if _, ok := err.(*RuntimeError); ok {
			return nil, err
		}
		return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to read the message body", Err: err}
	}
	return w.out, nil
}

// bodyWalk collects the texts of matching MIME parts.
type bodyWalk struct {
	r         *run
	types     []string
	stripHTML bool
	budget    int64
	out       []string
}

// maxMIMEDepth bounds multipart nesting (hostile messages nest deeply).
const maxMIMEDepth = 32

func (w *bodyWalk) entity(e *message.Entity, depth int) error {
	// Every part counts as work, so a message of a million tiny parts
	// meets MaxSteps and the deadline.
	if err := w.r.step(2); err != nil {
		return err
	}
	mt, params, perr := e.Header.ContentType()
	if perr != nil || mt == "" {
		mt = "text/plain"
	}
	mt = lower(mt)
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < maxMIMEDepth {
		// RFC 5173 §5.2: asking for "multipart" matches the prologue and
		// epilogue; they are captured while the parts stream past.
		var edge *edgeCapture
		if w.wantsMultipart(mt) {
			edge = &edgeCapture{r: e.Body}
			e.Body = edge
		}
		mr := e.MultipartReader()
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if err := w.entity(p, depth+1); err != nil {
				return err
			}
		}
		if edge != nil {
			io.Copy(io.Discard, edge)
			pre, epi := edge.split(params["boundary"])
			w.out = append(w.out, pre, epi)
		}
		return nil
	}
	if mt == "message/rfc822" && depth < maxMIMEDepth {
		// RFC 5173 §5.2 as Pigeonhole reads it: "message/rfc822" matches
		// the embedded message's header; its body parts are walked like
		// the outer message's.
		return w.embedded(e, depth)
	}
	if !contentTypeMatches(mt, w.types) || w.budget <= 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, w.budget))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		// A broken transfer encoding: match what could be decoded.
		b = b[:0]
	}
	w.budget -= int64(len(b))
	s := string(b)
	if mt == "text/html" && w.stripHTML {
		s = htmlToText(s)
	}
	w.out = append(w.out, s)
	return nil
}

func (w *bodyWalk) embedded(e *message.Entity, depth int) error {
	// The embedded message's header as every header is read (mailhdr).
	br := bufio.NewReader(e.Body)
	h, _ := mailhdr.Read(br, MaxHeaderBytes)
	sep := string(h.Separator)
	if sep == "" {
		sep = "\r\n" // it ended at text or at the end: end it for go-message
	}
	hdr := h.String() + sep
	if contentTypeMatches("message/rfc822", w.types) && w.budget > 0 {
		w.budget -= int64(len(hdr))
		w.out = append(w.out, hdr)
	}
	inner, err := message.Read(io.MultiReader(strings.NewReader(hdr), br))
	if inner == nil {
		_ = err
		return nil
	}
	return w.entity(inner, depth+1)
}

func (w *bodyWalk) wantsMultipart(mt string) bool {
	for _, t := range w.types {
		if t == "multipart" || t == mt {
			return true
		}
	}
	return false
}

// edgeCapture passes a multipart body through and keeps its first and last
// 64 KiB, where the prologue and epilogue are.
type edgeCapture struct {
	r    io.Reader
	head []byte
	tail []byte
}

const edgeKeep = 64 << 10

func (c *edgeCapture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if room := edgeKeep - len(c.head); room > 0 {
			c.head = append(c.head, p[:min(n, room)]...)
		}
		c.tail = append(c.tail, p[:n]...)
		if len(c.tail) > 2*edgeKeep {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-edgeKeep:]...)
		}
	}
	return n, err
}

// split returns the text before the first boundary and after the closing
// one (RFC 2046 §5.1.1).
func (c *edgeCapture) split(boundary string) (string, string) {
	delim := "--" + boundary
	pre := ""
	head := string(c.head)
	if i := strings.Index(head, delim); i >= 0 {
		pre = strings.TrimSuffix(strings.TrimSuffix(head[:i], "\n"), "\r")
	}
	epi := ""
	tail := string(c.tail)
	if i := strings.LastIndex(tail, delim+"--"); i >= 0 {
		epi = tail[i+len(delim)+2:]
		epi = strings.TrimPrefix(strings.TrimPrefix(epi, "\r"), "\n")
	}
	return pre, epi
}

// plainSinglePart reports whether a header describes a text/plain body in
// us-ascii or utf-8 without a transfer encoding (RFC 2045 §5.2 defaults).
func plainSinglePart(h []HeaderField) bool {
	for _, f := range h {
		switch lower(f.Name) {
		case "content-type":
			mt, params, err := mime.ParseMediaType(unfold(f.Value))
			if err != nil || mt != "text/plain" {
				return false
			}
			if cs := lower(params["charset"]); cs != "" && cs != "us-ascii" && cs != "utf-8" {
				return false
			}
		case "content-transfer-encoding":
			switch lower(strings.TrimSpace(unfold(f.Value))) {
			case "7bit", "8bit", "binary":
			default:
				return false
			}
		}
	}
	return true
}

func contentTypeMatches(mt string, types []string) bool {
	main := mt
	if i := strings.IndexByte(mt, '/'); i >= 0 {
		main = mt[:i]
	}
	for _, t := range types {
		if t == "" || t == mt || !strings.Contains(t, "/") && t == main {
			return true
		}
	}
	return false
}

// htmlTag is compiled on first use, not at init (every delivery links Sieve).
var htmlTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)<[^>]*>`) })

// htmlToText is the crude HTML-to-text extraction :text applies to
// text/html parts: tags are removed.
func htmlToText(s string) string {
	return htmlTag().ReplaceAllString(s, "")
}
