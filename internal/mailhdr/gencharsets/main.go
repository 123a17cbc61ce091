// Command gencharsets writes lookupCharset (charset_lookup.go) and the
// list of names it is checked on (testdata/charset-labels.txt). The names
// are every key of ianaAliases in golang.org/x/text/encoding/ianaindex's
// tables.go and of nameMap in .../htmlindex's tables.go (read from the
// module's source, found with go list), lower-cased, except one that
// holds a line end; plus each "cs" alias without its "cs" and
// go-message's two quirks. Each name is resolved as go-message/charset
// does (package resolve) and lookupCharset gets one case per decoder. A
// decoder it has no Go expression for is an error (exit 1, nothing
// written): add it to the list in run. Regenerate after an update of
// golang.org/x/text or go-message, from the repository's root, with
//
//	go generate ./internal/mailhdr
//
// (charset.go's go:generate line runs go run ./gencharsets in
// internal/mailhdr); then run TestCharsetsMatchGoMessage, which checks the
// result against go-message/charset.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/mailhdr/gencharsets/resolve"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

type known struct {
	expr string
	enc  encoding.Encoding
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencharsets:", err)
		os.Exit(1)
	}
}

func run() error {
	ks := []known{
		{"unicode.UTF8", unicode.UTF8},
		{"unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)},
		{"unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)},
		{"unicode.UTF16(unicode.BigEndian, unicode.UseBOM)", unicode.UTF16(unicode.BigEndian, unicode.UseBOM)},
		{"unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)", unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)},
		{"unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
		{"encoding.Replacement", encoding.Replacement},
		{"simplifiedchinese.GBK", simplifiedchinese.GBK},
		{"simplifiedchinese.GB18030", simplifiedchinese.GB18030},
		{"simplifiedchinese.HZGB2312", simplifiedchinese.HZGB2312},
		{"traditionalchinese.Big5", traditionalchinese.Big5},
		{"japanese.EUCJP", japanese.EUCJP},
		{"japanese.ISO2022JP", japanese.ISO2022JP},
		{"japanese.ShiftJIS", japanese.ShiftJIS},
		{"korean.EUCKR", korean.EUCKR},
	}
	ks = append(ks, []known{
		{"charmap.CodePage037", charmap.CodePage037},
		{"charmap.CodePage1047", charmap.CodePage1047},
		{"charmap.CodePage1140", charmap.CodePage1140},
		{"charmap.CodePage437", charmap.CodePage437},
		{"charmap.CodePage850", charmap.CodePage850},
		{"charmap.CodePage852", charmap.CodePage852},
		{"charmap.CodePage855", charmap.CodePage855},
		{"charmap.CodePage858", charmap.CodePage858},
		{"charmap.CodePage860", charmap.CodePage860},
		{"charmap.CodePage862", charmap.CodePage862},
		{"charmap.CodePage863", charmap.CodePage863},
		{"charmap.CodePage865", charmap.CodePage865},
		{"charmap.CodePage866", charmap.CodePage866},
		{"charmap.ISO8859_1", charmap.ISO8859_1},
		{"charmap.ISO8859_10", charmap.ISO8859_10},
		{"charmap.ISO8859_13", charmap.ISO8859_13},
		{"charmap.ISO8859_14", charmap.ISO8859_14},
		{"charmap.ISO8859_15", charmap.ISO8859_15},
		{"charmap.ISO8859_16", charmap.ISO8859_16},
		{"charmap.ISO8859_2", charmap.ISO8859_2},
		{"charmap.ISO8859_3", charmap.ISO8859_3},
		{"charmap.ISO8859_4", charmap.ISO8859_4},
		{"charmap.ISO8859_5", charmap.ISO8859_5},
		{"charmap.ISO8859_6", charmap.ISO8859_6},
		{"charmap.ISO8859_7", charmap.ISO8859_7},
		{"charmap.ISO8859_8", charmap.ISO8859_8},
		{"charmap.ISO8859_9", charmap.ISO8859_9},
		{"charmap.KOI8R", charmap.KOI8R},
		{"charmap.KOI8U", charmap.KOI8U},
		{"charmap.Macintosh", charmap.Macintosh},
		{"charmap.MacintoshCyrillic", charmap.MacintoshCyrillic},
		{"charmap.Windows1250", charmap.Windows1250},
		{"charmap.Windows1251", charmap.Windows1251},
		{"charmap.Windows1252", charmap.Windows1252},
		{"charmap.Windows1253", charmap.Windows1253},
		{"charmap.Windows1254", charmap.Windows1254},
		{"charmap.Windows1255", charmap.Windows1255},
		{"charmap.Windows1256", charmap.Windows1256},
		{"charmap.Windows1257", charmap.Windows1257},
		{"charmap.Windows1258", charmap.Windows1258},
		{"charmap.Windows874", charmap.Windows874},
		{"charmap.XUserDefined", charmap.XUserDefined},
		{"charmap.ISO8859_6E", charmap.ISO8859_6E},
		{"charmap.ISO8859_6I", charmap.ISO8859_6I},
		{"charmap.ISO8859_8E", charmap.ISO8859_8E},
		{"charmap.ISO8859_8I", charmap.ISO8859_8I},
	}...)
	ks = append(ks, known{"asciiEncoding", resolve.USASCII()})
	labels, err := labelNames()
	if err != nil {
		return err
	}
	byExpr := map[string][]string{}
	var missing []string
	for _, l := range labels {
		enc := resolve.GoMessage(l)
		if enc == nil {
			continue
		}
		found := ""
		for _, k := range ks {
			if k.enc == enc {
				found = k.expr
				break
			}
		}
		if found == "" {
			missing = append(missing, fmt.Sprintf("%q (%v)", l, enc))
			continue
		}
		byExpr[found] = append(byExpr[found], l)
	}
	if len(missing) > 0 {
		return fmt.Errorf("no Go expression for the decoder of %s: add it to the list in run", strings.Join(missing, ", "))
	}
	var exprs []string
	for e := range byExpr {
		exprs = append(exprs, e)
	}
	sort.Strings(exprs)
	// The imports are the packages the expressions name.
	imports := map[string]bool{}
	for _, e := range exprs {
		if pkg, _, ok := strings.Cut(e, "."); ok {
			path := "golang.org/x/text/encoding"
			if pkg != "encoding" {
				path += "/" + pkg
			}
			imports[strconv.Quote(path)] = true
		}
	}
	var src bytes.Buffer
	src.WriteString("// Code generated by gencharsets (go generate in internal/mailhdr); DO NOT EDIT.\n\npackage mailhdr\n\nimport (\n\t\"strings\"\n\n")
	for _, imp := range slices.Sorted(maps.Keys(imports)) {
		src.WriteString(imp + "\n")
	}
	src.WriteString(funcHead)
	for _, e := range exprs {
		ls := byExpr[e]
		sort.Strings(ls)
		fmt.Fprintf(&src, "\tcase %s:\n\t\treturn %s\n", quoteAll(ls), e)
	}
	src.WriteString("\t}\n\treturn nil\n}\n")
	out, err := format.Source(src.Bytes())
	if err != nil {
		return fmt.Errorf("format the generated code: %w", err)
	}
	if err := os.WriteFile("charset_lookup.go", out, 0o644); err != nil {
		return err
	}
	return os.WriteFile("testdata/charset-labels.txt", []byte(strings.Join(labels, "\n")+"\n"), 0o644)
}

const funcHead = `)

// lookupCharset returns the decoder of a MIME charset name (any case,
// surrounding white space ignored), or nil.
func lookupCharset(name string) encoding.Encoding {
	switch strings.ToLower(strings.TrimSpace(name)) {
`

// labelNames reads the names from x/text's tables (see the package doc),
// sorted and without repeats.
func labelNames() ([]string, error) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/text").Output()
	if err != nil {
		return nil, fmt.Errorf("find the golang.org/x/text module: go list: %w", err)
	}
	root := strings.TrimSpace(string(dir))
	set := map[string]bool{}
	for _, t := range []struct{ file, name string }{
		{"encoding/ianaindex/tables.go", "ianaAliases"},
		{"encoding/htmlindex/tables.go", "nameMap"},
	} {
		keys, err := mapKeys(filepath.Join(root, t.file), t.name)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			// One key of ianaindex holds a line end (a note pasted into
			// the name): no charset parameter can, nor a line of the list.
			if !strings.ContainsAny(k, "\r\n") {
				set[strings.ToLower(k)] = true
			}
		}
	}
	for l := range set {
		if s, ok := strings.CutPrefix(l, "cs"); ok {
			set[s] = true
		}
	}
	for _, q := range resolve.Quirks() {
		set[q] = true
	}
	var out []string
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// mapKeys returns the string keys of the map literal assigned to the
// package-level variable name in the Go file path.
func mapKeys(path, name string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) != 1 || vs.Names[0].Name != name || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.CompositeLit)
			if !ok {
				return nil, fmt.Errorf("%s: %s is not a map literal", path, name)
			}
			var keys []string
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					return nil, fmt.Errorf("%s: %s has an element without a key", path, name)
				}
				b, ok := kv.Key.(*ast.BasicLit)
				if !ok || b.Kind != token.STRING {
					return nil, fmt.Errorf("%s: %s has a key that is not a string literal", path, name)
				}
				k, err := strconv.Unquote(b.Value)
				if err != nil {
					return nil, err
				}
				keys = append(keys, k)
			}
			return keys, nil
		}
	}
	return nil, fmt.Errorf("%s: no variable %s (x/text's tables changed shape?)", path, name)
}

func quoteAll(ls []string) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", l)
	}
	return b.String()
}
