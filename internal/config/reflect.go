package config

import (
	"encoding"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// setDefaults fills every field of the struct v from its `default` tag.
func setDefaults(v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("toml") == "-" {
			continue
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			if err := setDefaults(fv); err != nil {
				return err
			}
			continue
		}
		def, ok := f.Tag.Lookup("default")
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

// validate checks the `oneof` and `min` tags under v; key is v's dotted path.
func validate(v reflect.Value, key string) []Problem {
	var probs []Problem
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		k := name
		if key != "" {
			k = key + "." + name
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			probs = append(probs, validate(fv, k)...)
			continue
		}
		if one := f.Tag.Get("oneof"); one != "" {
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
					probs = append(probs, Problem{Key: k, Msg: fmt.Sprintf("%s = %q is not allowed; use one of: %s", k, val, strings.Join(allowed, ", "))})
				}
			}
		}
		if m := f.Tag.Get("min"); m != "" {
			min, _ := strconv.ParseFloat(m, 64)
			if n, ok := number(fv); ok && n < min {
				probs = append(probs, Problem{Key: k, Msg: fmt.Sprintf("%s = %s is too small; the least is %s", k, formatPlain(fv), m)})
			}
		}
	}
	return probs
}

func number(fv reflect.Value) (float64, bool) {
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
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
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
			if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
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
