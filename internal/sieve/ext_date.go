package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// RFC 5260: date, currentdate (and :index, in core.go's indexSel).

// registerDate adds the specs of this file (registerAll).
func registerDate() {
	zoneTags := []tagDef{{name: "zone", group: "zone", val: argString}, {name: "originalzone", group: "zone"}}
	dateTags := append(append(append([]tagDef{}, matchTags...), zoneTags...), indexTags...)
	register(&spec{name: "date", ext: "date", test: true, tags: dateTags,
		pos: []posDef{{"header name", argString}, {"date part", argString}, {"key list", argList}}, buildTest: buildDate})
	register(&spec{name: "currentdate", ext: "date", test: true, tags: append(append([]tagDef{}, matchTags...), zoneTags[0]),
		pos: []posDef{{"date part", argString}, {"key list", argList}}, buildTest: buildCurrentdate})
}

type dateTest struct {
	header   *str // nil for currentdate
	part     str
	zone     *str
	original bool
	idx      indexSel
	m        *matcher
}

func (c *compiler) dateCommon(n *node, a *args, t *dateTest, partArg, keyArg *arg) test {
	t.part = c.compileStr(partArg.strs[0])
	// An unknown date part is not a compile error in Pigeonhole: the test
	// is false at run time (RFC 5260 §4.2 does not say).
	if z, ok := a.tags["zone"]; ok {
		// An invalid zone is only a warning in Pigeonhole and is then
		// ignored, so such a test still compares in the local zone.
		s := c.compileStr(z.strs[0])
		t.zone = &s
	}
	t.original = a.has("originalzone")
	t.m = c.compileMatcher(n, a, keyArg)
	if t.m == nil {
		return nil
	}
	return t
}

func buildDate(c *compiler, n *node, a *args) test {
	h := c.compileStr(a.pos[0].strs[0])
	t := &dateTest{header: &h, idx: c.indexOf(n, a)}
	return c.dateCommon(n, a, t, a.pos[1], a.pos[2])
}

func buildCurrentdate(c *compiler, n *node, a *args) test {
	return c.dateCommon(n, a, &dateTest{}, a.pos[0], a.pos[1])
}

// parseZone parses "+hhmm"/"-hhmm" (RFC 5260 §4.1).
func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || m > 59 || h > 23 {
		return nil, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off), true
}

func (t *dateTest) eval(r *run) (bool, error) {
	part := lower(r.expand(&t.part))
	var loc *time.Location
	if t.zone != nil {
		if z, ok := parseZone(r.expand(t.zone)); ok {
			loc = z
		}
	}
	var dates []time.Time
	if t.header == nil {
		dates = []time.Time{r.now}
		if loc == nil {
			loc = r.rt.Location
		}
	} else {
		name := r.expand(t.header)
		for _, v := range t.idx.pick(r.headerValues(name)) {
			if strings.EqualFold(name, "received") {
				// The date of a Received field follows its last ";".
				if i := strings.LastIndexByte(v, ';'); i >= 0 {
					v = v[i+1:]
				}
			}
			d, err := parseMailDate(v)
			if err != nil {
				continue
			}
			dates = append(dates, d)
		}
		if loc == nil && !t.original {
			loc = r.rt.Location
		}
	}
	vals := make([]string, 0, len(dates))
	for _, d := range dates {
		if loc != nil {
			d = d.In(loc)
		}
		if v, ok := datePart(d, part); ok {
			vals = append(vals, v)
		}
	}
	r.tracef("  date values %q", vals)
	return t.m.match(r, vals)
}

// parseMailDate parses an RFC 5322 date-time leniently (obsolete zones,
// missing seconds, trailing comments).
func parseMailDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	// Drop a trailing comment such as "(CET)" first.
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
	}
	// Obsolete zone names (RFC 5322 §4.3): Go would read them as +0000.
	if i := strings.LastIndexByte(v, ' '); i > 0 {
		if off, ok := obsoleteZones[strings.ToUpper(v[i+1:])]; ok {
			v = v[:i+1] + off
		} else if z := v[i+1:]; len(z) == 1 && isAlpha(z[0]) {
			v = v[:i+1] + "-0000" // military zones are unreliable: treat as -0000
		}
	}
	if d, err := mail.ParseDate(v); err == nil {
		return d, nil
	}
	return time.Time{}, fmt.Errorf("unparsable date %q", v)
}

var obsoleteZones = map[string]string{
	"UT": "+0000", "GMT": "+0000", "EST": "-0500", "EDT": "-0400", "CST": "-0600",
	"CDT": "-0500", "MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

func datePart(d time.Time, part string) (string, bool) {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", d.Year()), true
	case "month":
		return fmt.Sprintf("%02d", int(d.Month())), true
	case "day":
		return fmt.Sprintf("%02d", d.Day()), true
	case "date":
		return d.Format("2006-01-02"), true
	case "julian":
		// Modified Julian Day: days since 1858-11-17 (RFC 5260 §4.2).
		y, m, dd := d.Date()
		day := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
		epoch := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		return strconv.FormatInt(int64(day.Sub(epoch).Hours()/24), 10), true
	case "hour":
		return fmt.Sprintf("%02d", d.Hour()), true
	case "minute":
		return fmt.Sprintf("%02d", d.Minute()), true
	case "second":
		return fmt.Sprintf("%02d", d.Second()), true
	case "time":
		return d.Format("15:04:05"), true
	case "iso8601":
		return d.Format("2006-01-02T15:04:05Z07:00"), true
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700"), true
	case "zone":
		return d.Format("-0700"), true
	case "weekday":
		return strconv.Itoa(int(d.Weekday())), true
	}
	return "", false
}
