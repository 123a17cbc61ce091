package sieve

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
)

// RFC 5173: the body test, with :raw, :content and :text transforms.

func init() {
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
	r.tracef("body test (%s)", t.transform)
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
		out, err = r.mimeTexts(body, types, limit)
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
func (r *run) mimeTexts(body io.Reader, types []string, limit int64) ([]string, error) {
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
	var out []string
	var budget = limit
	walkErr := ent.Walk(func(path []int, e *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil
		}
		if e.MultipartReader() != nil {
			return nil
		}
		mt, _, perr := e.Header.ContentType()
		if perr != nil || mt == "" {
			mt = "text/plain"
		}
		mt = lower(mt)
		if !contentTypeMatches(mt, types) {
			return nil
		}
		if budget <= 0 {
			return nil
		}
		b, rerr := io.ReadAll(io.LimitReader(e.Body, budget))
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			b = nil
		}
		budget -= int64(len(b))
		s := string(b)
		if mt == "text/html" && len(types) == 1 && types[0] == "text" {
			s = htmlToText(s)
		}
		out = append(out, s)
		return nil
	})
	if walkErr != nil {
		return nil, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "failed to read the message body", Err: walkErr}
	}
	return out, nil
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

var htmlTag = regexp.MustCompile(`(?s)<[^>]*>`)

// htmlToText is the crude HTML-to-text extraction :text applies to
// text/html parts: tags are removed.
func htmlToText(s string) string {
	return htmlTag.ReplaceAllString(s, "")
}
