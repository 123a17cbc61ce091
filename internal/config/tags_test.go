package config

import (
	"reflect"
	"testing"
)

// parseTags must read exactly what reflect.StructTag.Lookup reads, for
// every field of the configuration and for the corners of the format.
func TestParseTagsMatchesReflect(t *testing.T) {
	check := func(t *testing.T, where string, tag reflect.StructTag) {
		t.Helper()
		got := parseTags(tag)
		def, hasDef := tag.Lookup("default")
		want := fieldTags{toml: tag.Get("toml"), def: def, oneof: tag.Get("oneof"), min: tag.Get("min"), hasDef: hasDef}
		if got != want {
			t.Errorf("%s: tag %q\nparseTags %+v\nreflect   %+v", where, tag, got, want)
		}
	}
	n := 0
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			check(t, path+f.Name, f.Tag)
			n++
			if isSection(f.Type) {
				walk(f.Type, path+f.Name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	if n < 100 {
		t.Fatalf("walked only %d fields", n)
	}
	for _, tag := range []reflect.StructTag{
		``,
		`toml:"a"`,
		`doc:"a \"quoted\" toml:\"x\" word" toml:"b" default:"1"`,
		`doc:"ends with a backslash \\" toml:"c"`,
		`toml:"d" toml:"second"`,
		`default:""`,
		`toml:"e" min:"0.5" oneof:"a,b"   default:"a"`,
		`toml:"f" broken`,
		`toml:"g" default:"unterminated`,
		`toml:"h\u00e9" default:"\x41"`,
		`:"x" toml:"i"`,
	} {
		check(t, "corner", tag)
	}
}
