package config

import (
	"encoding"
	"fmt"
	"io"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// isSection reports whether a field of type t is a table of keys (a
// struct that is not itself a value such as Duration or Size).
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	if v, ok := sectionTypes.Load(t); ok {
		return v.(bool)
	}
	is := !reflect.PointerTo(t).Implements(textUnmarshaler)
	sectionTypes.Store(t, is)
	return is
}

// sectionTypes memoises isSection (Implements walks the method set, and
// the same few types recur across hundreds of fields); a fact about
// compiled-in types, so sharing it is safe.
var sectionTypes sync.Map

// fieldTags is what setDefaults and validate read from a field's tag, in
// one pass. Every tag carries a long doc string, and
// reflect.StructTag.Lookup scans the whole tag for each key it is asked:
// five keys for each of hundreds of fields was most of Parse's time, and
// Parse runs at the start of every ebb command and of every one-message
// delivery (issue 16).
type fieldTags struct {
	toml, def, oneof, min string
	hasDef                bool
}

// tagsOf returns parseTags of every field of the struct type t, parsed
// once per type (setDefaults and validate both walk every field).
func tagsOf(t reflect.Type) []fieldTags {
	if v, ok := typeTags.Load(t); ok {
		return v.([]fieldTags)
	}
	ts := make([]fieldTags, t.NumField())
	for i := range ts {
		ts[i] = parseTags(t.Field(i).Tag)
	}
	typeTags.Store(t, ts)
	return ts
}

// typeTags memoises tagsOf: facts about compiled-in types.
var typeTags sync.Map

// parseTags reads the toml, default, oneof and min keys of a struct tag
// in the conventional format (reflect.StructTag): space-separated
// key:"quoted value" pairs; the first occurrence of a key wins. It skips
// other values (doc) with IndexByte instead of a byte loop, and unquotes
// only the four it returns. A malformed tag ends the parse, as in reflect.
func parseTags(tag reflect.StructTag) fieldTags {
	var ft fieldTags
	var seen [4]bool
	s := string(tag)
	for {
		for s != "" && s[0] == ' ' {
			s = s[1:]
		}
		i := 0
		for i < len(s) && s[i] > ' ' && s[i] != ':' && s[i] != '"' && s[i] != 0x7f {
			i++
		}
		if i == 0 || i+1 >= len(s) || s[i] != ':' || s[i+1] != '"' {
			return ft
		}
		name := s[:i]
		s = s[i+1:] // at the opening quote
		end := 1
		for {
			k := strings.IndexByte(s[end:], '"')
			if k < 0 {
				return ft
			}
			end += k
			bs := 0
			for p := end - 1; p >= 1 && s[p] == '\\'; p-- {
				bs++
			}
			if bs%2 == 0 {
				break
			}
			end++
		}
		quoted := s[:end+1]
		s = s[end+1:]
		slot := -1
		switch name {
		case "toml":
			slot = 0
		case "default":
			slot = 1
		case "oneof":
			slot = 2
		case "min":
			slot = 3
		}
		if slot < 0 || seen[slot] {
			continue
		}
		v := quoted[1 : len(quoted)-1]
		if strings.ContainsAny(v, "\\\n") {
			var err error
			if v, err = strconv.Unquote(quoted); err != nil {
				return ft
			}
		}
		seen[slot] = true
		switch slot {
		case 0:
			ft.toml = v
		case 1:
			ft.def, ft.hasDef = v, true
		case 2:
			ft.oneof = v
		case 3:
			ft.min = v
		}
	}
}

// setDefaults fills every field of the struct v from its `default` tag.
func setDefaults(v reflect.Value) error {
	t := v.Type()
	tags := tagsOf(t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		ft := tags[i]
		if !f.IsExported() || ft.toml == "-" {
			continue
		}
		fv := v.Field(i)
		if isSection(f.Type) {
			if err := setDefaults(fv); err != nil {
				return err
			}
			continue
		}
		def, ok := ft.def, ft.hasDef
		if !ok {
			return fmt.Errorf("config: field %s has no default tag", f.Name)
		}
		if err := setText(fv, def); err != nil {
			return fmt.Errorf("config: default of %s: %w", f.Name, err)
		}
	}
	return nil
}

// setText parses s into the field value fv.
func setText(fv reflect.Value, s string) error {
	if fv.CanAddr() && fv.Addr().Type().Implements(textUnmarshaler) {
		return fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(n)
	case reflect.Slice:
		var parts []string
		if s != "" {
			parts = strings.Split(s, ",")
		}
		sl := reflect.MakeSlice(fv.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setText(sl.Index(i), strings.TrimSpace(p)); err != nil {
				return err
			}
		}
		fv.Set(sl)
	default:
		return fmt.Errorf("unsupported kind %s", fv.Kind())
	}
	return nil
}

// keyFields yields the index and dotted key of every field of the
// section type t (whose own key is key) that is a key or a subsection, in
// order.
func keyFields(t reflect.Type, key string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		tags := tagsOf(t)
		for i := 0; i < t.NumField(); i++ {
			ft := tags[i]
			if !t.Field(i).IsExported() || ft.toml == "-" || ft.toml == "" {
				continue
			}
			k := ft.toml
			if key != "" {
				k = key + "." + ft.toml
			}
			if !yield(i, k) {
				return
			}
		}
	}
}

// validate checks the `oneof` and `min` tags under v; key is v's dotted path.
func validate(v reflect.Value, key string) []Problem {
	var probs []Problem
	t := v.Type()
	tags := tagsOf(t)
	for i, k := range keyFields(t, key) {
		f, ft := t.Field(i), tags[i]
		fv := v.Field(i)
		if isSection(f.Type) {
			probs = append(probs, validate(fv, k)...)
			continue
		}
		if one := ft.oneof; one != "" {
			allowed := strings.Split(one, ",")
			vals := []string{}
			if fv.Kind() == reflect.Slice {
				for j := 0; j < fv.Len(); j++ {
					vals = append(vals, fv.Index(j).String())
				}
			} else {
				vals = append(vals, fv.String())
			}
			for _, val := range vals {
				if !contains(allowed, val) {
					probs = append(probs, notAllowed(k, val, one))
				}
			}
		}
		if m := ft.min; m != "" {
			min, _ := minOf(f.Type, m)
			if n, ok := number(fv); ok && n < min {
				probs = append(probs, tooSmall(k, formatPlain(fv), m))
			}
		}
	}
	return probs
}

// notAllowed is the problem of key = val outside oneof (comma-separated).
func notAllowed(key, val, oneof string) Problem {
	return Problem{Key: key, Msg: fmt.Sprintf("%s = %q is not allowed; use one of: %s", key, val, strings.ReplaceAll(oneof, ",", ", "))}
}

// tooSmall is the problem of key = val below min.
func tooSmall(key, val, min string) Problem {
	return Problem{Key: key, Msg: fmt.Sprintf("%s = %s is too small; the least is %s", key, val, min)}
}

// number is the value of a numeric field: an integer, a float, a Size,
// or a Duration's nanoseconds.
func number(fv reflect.Value) (float64, bool) {
	if d, ok := fv.Interface().(Duration); ok {
		return float64(d.Duration), true
	}
	switch fv.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return float64(fv.Int()), true
	case reflect.Uint64:
		return float64(fv.Uint()), true
	case reflect.Float64:
		return fv.Float(), true
	}
	return 0, false
}

// minOf reads the min tag m of a field of type t as that type reads its
// value ("1ms" for a Duration, "512K" for a Size, a number), as number
// gives it; false if it does not parse (TestMinTagsParse).
func minOf(t reflect.Type, m string) (float64, bool) {
	v := reflect.New(t).Elem()
	if err := setText(v, m); err != nil {
		return 0, false
	}
	return number(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookup finds the field for a dotted key.
func lookup(v reflect.Value, parts []string) (reflect.Value, bool) {
	for _, p := range parts {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		t := v.Type()
		found := false
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("toml") == p {
				v = v.Field(i)
				found = true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
}

// formatPlain renders a value as a person writes it, without TOML quoting.
func formatPlain(fv reflect.Value) string {
	if s, ok := fv.Interface().(fmt.Stringer); ok {
		return s.String()
	}
	if fv.Kind() == reflect.Slice {
		parts := make([]string, fv.Len())
		for i := range parts {
			parts[i] = formatPlain(fv.Index(i))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(fv.Interface())
}

// formatTOML renders a value as TOML.
func formatTOML(fv reflect.Value) string {
	if _, ok := fv.Interface().(fmt.Stringer); ok {
		return strconv.Quote(formatPlain(fv))
	}
	switch fv.Kind() {
	case reflect.String:
		return strconv.Quote(fv.String())
	case reflect.Slice:
		parts := make([]string, fv.Len())
		for i := range parts {
			parts[i] = formatTOML(fv.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(fv.Interface())
}

// WriteDefaults prints the complete default config, a comment on each key.
func WriteDefaults(w io.Writer) error {
	c := Defaults()
	fmt.Fprintln(w, "# ebb configuration: every key with its default.")
	fmt.Fprintln(w, "# Generated by `ebb config defaults` from the code itself.")
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if !f.IsExported() || name == "-" {
			continue
		}
		writeSection(w, v.Field(i), name, f.Tag.Get("doc"))
	}
	return nil
}

func writeSection(w io.Writer, v reflect.Value, name, doc string) {
	fmt.Fprintln(w)
	writeComment(w, doc)
	fmt.Fprintf(w, "[%s]\n", name)
	t := v.Type()
	var subs []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if !f.IsExported() || key == "-" {
			continue
		}
		if isSection(f.Type) {
			subs = append(subs, i)
			continue
		}
		writeComment(w, f.Tag.Get("doc"))
		if one := f.Tag.Get("oneof"); one != "" {
			fmt.Fprintf(w, "# One of: %s.\n", strings.ReplaceAll(one, ",", ", "))
		}
		fmt.Fprintf(w, "%s = %s\n", key, formatTOML(v.Field(i)))
	}
	for _, i := range subs {
		f := t.Field(i)
		writeSection(w, v.Field(i), name+"."+f.Tag.Get("toml"), f.Tag.Get("doc"))
	}
}

func writeComment(w io.Writer, doc string) {
	if doc == "" {
		return
	}
	for _, line := range wrap(doc, 76) {
		fmt.Fprintf(w, "# %s\n", line)
	}
}

func wrap(s string, width int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			if line != "" && len(line)+1+len(word) > width {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		lines = append(lines, line)
	}
	return lines
}

// Keys lists every valid dotted key.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("toml")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			k := name
			if prefix != "" {
				k = prefix + "." + name
			}
			if isSection(f.Type) {
				walk(f.Type, k)
				continue
			}
			keys = append(keys, k)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

// nearestKey returns the valid key closest to a misspelt one, preferring keys
// in the same section, or "" when nothing is close.
func nearestKey(key string) string {
	best, bestD := "", 1<<30
	sect := ""
	if i := strings.LastIndex(key, "."); i >= 0 {
		sect = key[:i]
	}
	for _, k := range Keys() {
		d := levenshtein(key, k)
		ks := ""
		if i := strings.LastIndex(k, "."); i >= 0 {
			ks = k[:i]
		}
		if ks != sect {
			d += 2
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if bestD > len(key)/2+2 {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
