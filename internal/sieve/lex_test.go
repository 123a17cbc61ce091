package sieve

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestLexTokens(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // kinds and values, space separated
	}{
		{"identifier and semicolon", "keep;", "id:keep ;"},
		{"tag", ":Contains", "tag:Contains"},
		{"number with K", "10K", "num:10240"},
		{"number with M", "2M", "num:2097152"},
		{"number with G", "1g", "num:1073741824"},
		{"quoted string escapes", `"a\"b\\c\d"`, `str:a"b\cd`},
		{"hash comment", "# hi\nstop;", "id:stop ;"},
		{"bracket comment", "/* a\n* b */stop;", "id:stop ;"},
		{"bracket comment does not nest", "/* /* */stop;", "id:stop ;"},
		{"string list", `["a","b"]`, "[ str:a , str:b ]"},
		{"multi-line", "text:\nline1\n..dot\n.\n", "str:line1\r\n.dot\r\n"},
		{"multi-line with comment and CRLF", "text: # c\r\nx\r\n.\r\n", "str:x\r\n"},
		{"quoted string LF becomes CRLF", "\"a\nb\"", "str:a\r\nb"},
		{"test list", "anyof(true,false)", "id:anyof ( id:true , id:false )"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			toks, err := lexAll("t", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tk := range toks {
				switch tk.kind {
				case tEOF:
				case tIdent:
					got = append(got, "id:"+tk.text)
				case tTag:
					got = append(got, "tag:"+tk.text)
				case tNumber:
					got = append(got, "num:"+itoa(tk.num))
				case tString:
					got = append(got, "str:"+tk.text)
				default:
					got = append(got, tk.text)
				}
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("got %q, want %q", g, c.want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestLexErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unterminated string names EOF line", "keep;\n\"abc", "t: line 2, column 5: error: end of file before end of quoted string"},
		{"unterminated comment", "/* x\n", "t: line 2, column 1: error: end of file before end of bracket comment"},
		{"unterminated text", "text:\nabc\n", "t: line 3, column 1: error: end of file before end of multi-line string"},
		{"number too large", "99999999999999999999", "t: line 1, column 1: error: number is too large"},
		{"number with quantifier too large", "9999999999G", "number is too large"},
		{"garbage after number", "12x", "unexpected character 'x' after number"},
		{"bad character", "keep; @", "t: line 1, column 7: error: unexpected character '@'"},
		{"lone colon", ": x", "expected a tag name after ':'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := lexAll("t", []byte(c.src))
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("want CompileError, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %q, want it to contain %q", err.Error(), c.want)
			}
		})
	}
}
