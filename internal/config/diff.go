package config

import (
	"reflect"
	"strings"
)

// Change is one key whose value differs between two configs.
type Change struct {
	Key      string
	Old, New string
}

// Changed lists, in the order of `ebb config defaults`, every key whose
// value differs between old and new. It walks the config structs, so a
// section added later is covered without anyone listing its keys (SIGHUP
// uses it to name what it did not apply).
func Changed(old, new *Config) []Change {
	var out []Change
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	for _, k := range Keys() {
		parts := strings.Split(k, ".")
		a, ok1 := lookup(ov, parts)
		b, ok2 := lookup(nv, parts)
		if !ok1 || !ok2 || reflect.DeepEqual(a.Interface(), b.Interface()) {
			continue
		}
		out = append(out, Change{Key: k, Old: formatPlain(a), New: formatPlain(b)})
	}
	return out
}
