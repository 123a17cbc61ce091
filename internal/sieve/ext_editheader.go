package sieve

import (
	"mime"
	"strings"
)

// RFC 5293: addheader and deleteheader. Later tests see the edited header.

// registerEditheader adds the specs of this file (registerAll).
func registerEditheader() {
	register(&spec{name: "addheader", ext: "editheader", tags: []tagDef{{name: "last"}},
		pos: []posDef{{"field name", argString}, {"value", argString}}, buildCmd: buildAddheader})
	dtags := append(append([]tagDef{}, matchTags...),
		tagDef{name: "index", val: argNumber}, tagDef{name: "last"})
	register(&spec{name: "deleteheader", ext: "editheader", tags: dtags,
		pos: []posDef{{"field name", argString}, {"value patterns", argList}}, min: 1, buildCmd: buildDeleteheader})
}

type addheaderCmd struct {
	name, value str
	last        bool
	pos         Pos
}

func buildAddheader(c *compiler, n *node, a *args) cmd {
	x := &addheaderCmd{name: c.compileStr(a.pos[0].strs[0]), value: c.compileStr(a.pos[1].strs[0]), last: a.has("last"), pos: n.pos}
	if x.name.isConst() && !validHeaderName(x.name.lit) {
		c.errorf(a.pos[0].pos, "addheader command: specified field name `%s' is invalid", x.name.lit)
		return nil
	}
	return x
}

// editable copies the header once, so the message's own slice is never
// changed.
func (r *run) editable() []HeaderField {
	if !r.hdrEdited {
		r.hdr = append([]HeaderField(nil), r.header()...)
		r.hdrEdited = true
	}
	return r.hdr
}

func (r *run) countEdit() error {
	r.edits++
	if r.edits > r.s.limits.MaxHeaderEdits {
		return r.limitErr("MaxHeaderEdits", "too many header edits")
	}
	return nil
}

func (x *addheaderCmd) exec(r *run) error {
	r.pos = x.pos
	name := r.expand(&x.name)
	value := r.expand(&x.value)
	if !validHeaderName(name) {
		return r.errf("addheader action: specified field name `%s' is invalid", name)
	}
	if r.s.protected[lower(name)] && lower(name) != "received" {
		r.tracef("addheader: field %s is protected", name)
		return nil
	}
	if err := r.countEdit(); err != nil {
		return err
	}
	// RFC 5293 §4: non-ASCII values are encoded (RFC 2047); line breaks
	// inside the value are not allowed in a header and become spaces.
	enc := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(value)
	if !isASCII(enc) {
		enc = mime.QEncoding.Encode("utf-8", enc)
	}
	f := HeaderField{Name: name, Value: " " + enc}
	h := r.editable()
	if x.last {
		h = append(h, f)
	} else {
		h = append([]HeaderField{f}, h...)
	}
	r.hdr = h
	r.headerChanged()
	r.tracef("addheader %s: %s", name, value)
	return r.addAction(AddHeader{Name: name, Value: value, Last: x.last})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

type deleteheaderCmd struct {
	name str
	idx  indexSel
	m    *matcher // nil: delete regardless of value
	pos  Pos
}

func buildDeleteheader(c *compiler, n *node, a *args) cmd {
	x := &deleteheaderCmd{name: c.compileStr(a.pos[0].strs[0]), pos: n.pos}
	if x.name.isConst() && !validHeaderName(x.name.lit) {
		c.errorf(a.pos[0].pos, "deleteheader command: specified field name `%s' is invalid", x.name.lit)
		return nil
	}
	if ia, ok := a.tags["index"]; ok {
		x.idx.index = ia.num
		if ia.num < 1 {
			c.errorf(ia.pos, "the :index argument must be a positive number")
		}
	}
	if a.has("last") {
		if x.idx.index == 0 {
			c.errorf(a.tags["last"].pos, "the :last tag requires the :index tag")
		}
		x.idx.last = true
	}
	if len(a.pos) == 2 {
		x.m = c.compileMatcher(n, a, a.pos[1])
		if x.m == nil {
			return nil
		}
	}
	return x
}

func (x *deleteheaderCmd) exec(r *run) error {
	r.pos = x.pos
	name := r.expand(&x.name)
	if r.s.protected[lower(name)] {
		// Pigeonhole: "deleting specified header field is forbidden;
		// modification denied" — a warning, not an error.
		r.tracef("deleteheader: field %s is protected", name)
		return nil
	}
	if err := r.countEdit(); err != nil {
		return err
	}
	h := r.header()
	var positions []int // indexes into h of fields named name
	for i, f := range h {
		if strings.EqualFold(f.Name, name) {
			positions = append(positions, i)
		}
	}
	var occ []int // 1-based occurrence numbers selected by :index
	if x.idx.index > 0 {
		n := int(x.idx.index)
		if x.idx.last {
			n = len(positions) - n + 1
		}
		if n >= 1 && n <= len(positions) {
			occ = []int{n}
		}
	} else {
		for i := range positions {
			occ = append(occ, i+1)
		}
	}
	del := map[int]bool{}
	var deleted []int
	for _, o := range occ {
		if x.m != nil {
			ok, err := x.m.match(r, []string{decodeHeader(h[positions[o-1]].Value)})
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		del[positions[o-1]] = true
		deleted = append(deleted, o)
	}
	if len(deleted) == 0 {
		return nil
	}
	old := r.editable()
	out := make([]HeaderField, 0, len(old))
	for i, f := range old {
		if !del[i] {
			out = append(out, f)
		}
	}
	r.hdr = out
	r.headerChanged()
	r.tracef("deleteheader %s %v", name, deleted)
	return r.addAction(DeleteHeader{Name: name, Indexes: deleted})
}
