package sieve

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seedScripts adds the differential corpus' scripts (when present) and a
// few hand-written ones to a fuzz target's seeds; the committed seeds are in
// testdata/fuzz/<Target>/.
func seedScripts(f *testing.F) {
	for _, s := range []string{
		``, `keep;`, `require "fileinto"; if header :contains "subject" "x" { fileinto "y"; } else { discard; }`,
		"require \"reject\"; reject text:\r\nline\r\n..dot\r\n.\r\n;",
		`/* c */ # h` + "\n" + `if anyof(not true, size :over 1K) { stop; }`,
		`require ["variables","encoded-character"]; set :upper "a" "${hex:41}${unicode:263a}"; if string :matches "${a}" "*" {}`,
		`require ["regex","relational","comparator-i;ascii-numeric"]; if header :regex "a" "(b|c)+" {} if header :count "gt" :comparator "i;ascii-numeric" "a" "1" {}`,
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("../../test/testdata/sieve/*/script.sieve")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzLex(f *testing.F) {
	seedScripts(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		toks, err := lexAll("fuzz", src)
		if err != nil {
			return
		}
		if len(toks) == 0 || toks[len(toks)-1].kind != tEOF {
			t.Fatal("token stream does not end with EOF")
		}
		for _, tk := range toks {
			if tk.pos.Line < 1 || tk.pos.Col < 1 {
				t.Fatalf("bad position %+v", tk.pos)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	seedScripts(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		nodes, err := parse("fuzz", src, 32)
		if err == nil && nodes == nil && len(src) > 0 {
			// an empty script (comments only) is fine
			return
		}
	})
}

// FuzzCompile compiles and, when that works, runs the script with a short
// deadline: neither may panic, and a run must end.
func FuzzCompile(f *testing.F) {
	seedScripts(f)
	msg := testMsg + "More body.\r\n"
	f.Fuzz(func(t *testing.T, src []byte) {
		inc := includeFiles{"personal/a": `keep;`, "global/b": `require "fileinto"; fileinto "b";`}
		s, err := Compile("fuzz", src, Options{Include: inc, Limits: Limits{MaxSteps: 20000}})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, _ := NewMessage(stringReaderAt(msg), int64(len(msg)))
		res, err := s.Run(ctx, m, Envelope{From: "a@example.com", To: "b+x@example.org"}, Runtime{})
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
		if err != nil && (res == nil || !res.ImplicitKeep) {
			t.Fatal("a failed run must ask for implicit keep")
		}
	})
}

type stringReaderAt string

func (s stringReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s)) {
		return 0, ioEOF
	}
	n := copy(p, s[off:])
	if n < len(p) {
		return n, ioEOF
	}
	return n, nil
}

var ioEOF = io.EOF
