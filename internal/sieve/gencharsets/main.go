// Command gencharsets writes the cases of lookupCharset (charset.go): it
// reads charset names on stdin (testdata/charset-labels.txt), resolves
// each as go-message/charset does (its quirks, then x/text's IANA index,
// then "cs" + name, then the WHATWG index) and prints one case per
// decoder. The names are every key of ianaAliases in
// golang.org/x/text/encoding/ianaindex/tables.go and of nameMap in
// .../htmlindex/tables.go, lower-cased, plus each "cs" alias without its
// "cs" and go-message's two quirks. Run from internal/sieve:
//
//	go run ./gencharsets < testdata/charset-labels.txt
//
// and paste the output into lookupCharset's switch;
// TestCharsetsMatchGoMessage checks the result.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
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
	ks = append(ks, known{"asciiEncoding", asciiProbe()})
	byExpr := map[string][]string{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		l := sc.Text()
		enc := resolve(l)
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
			fmt.Fprintf(os.Stderr, "no expression for %q (%v)\n", l, enc)
			continue
		}
		byExpr[found] = append(byExpr[found], l)
	}
	var exprs []string
	for e := range byExpr {
		exprs = append(exprs, e)
	}
	sort.Strings(exprs)
	for _, e := range exprs {
		ls := byExpr[e]
		sort.Strings(ls)
		fmt.Printf("\tcase %s:\n\t\treturn %s\n", quoteAll(ls), e)
	}
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

// resolve is go-message/charset's lookup order.
func resolve(l string) encoding.Encoding {
	switch strings.ToLower(l) {
	case "ansi_x3.110-1983":
		return charmap.ISO8859_1
	case "x-utf_8j":
		return unicode.UTF8
	}
	enc, _ := ianaindex.MIME.Encoding(l)
	if enc == nil {
		enc, _ = ianaindex.MIME.Encoding("cs" + l)
	}
	if enc == nil {
		enc, _ = htmlindex.Get(l)
	}
	return enc
}

// asciiProbe is ianaindex's US-ASCII encoding, found by name.
func asciiProbe() encoding.Encoding {
	e, _ := ianaindex.MIME.Encoding("us-ascii")
	return e
}
