package sieve

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLimitsStopHostileScripts: every limit stops the script with a
// RuntimeError naming the limit, and the result says implicit keep.
func TestLimitsStopHostileScripts(t *testing.T) {
	manyRedirects := ""
	for i := 0; i < 6; i++ {
		manyRedirects += `redirect "r` + string(rune('a'+i)) + `@example.net";`
	}
	manyFolders := `require "fileinto";`
	for i := 0; i < 40; i++ {
		manyFolders += `fileinto "f` + strings.Repeat("x", i) + `";`
	}
	// Exponential work: a :matches with many stars against a long value,
	// repeated through variables. The glob matcher is O(n*m) so the cost
	// comes from repetition, which the step counter bounds.
	busy := `require ["variables"]; set "a" "` + strings.Repeat("x", 3000) + `";`
	for i := 0; i < 50; i++ {
		busy += `if string :matches "${a}" "*x*x*x*x*x*y" { discard; }`
	}
	cases := []struct {
		name, src, limit string
		lim              Limits
	}{
		{"too many redirects", manyRedirects, "MaxRedirects", Limits{}},
		{"too many actions", manyFolders, "MaxActions", Limits{}},
		{"too much work", busy, "MaxSteps", Limits{MaxSteps: 1000}},
		{"too many variables", `require "variables"; set "a" "1"; set "b" "2"; set "c" "3";`, "MaxVariables", Limits{MaxVariables: 2}},
		{"too many header edits", `require "editheader"; addheader "a" "1"; addheader "b" "2";`, "MaxHeaderEdits", Limits{MaxHeaderEdits: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Compile("hostile", []byte(c.src), Options{Limits: c.lim})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
			var re *RuntimeError
			if !errors.As(err, &re) || re.Limit != c.limit || !errors.Is(err, ErrLimit) {
				t.Fatalf("want limit %s, got %v", c.limit, err)
			}
			if !res.ImplicitKeep || len(res.Actions) != 0 {
				t.Errorf("a failed run must ask for implicit keep only: %+v", res)
			}
			if !strings.HasPrefix(err.Error(), "hostile: line ") {
				t.Errorf("error should name script and line: %v", err)
			}
		})
	}
}

func TestDeadlineStopsScript(t *testing.T) {
	src := `require ["variables"]; set "a" "` + strings.Repeat("x", 4000) + `";`
	for i := 0; i < 3000; i++ {
		src += `if string :matches "${a}" "*x*x*x*x*x*y" { discard; }`
	}
	s, err := Compile("slow", []byte(src), Options{Limits: Limits{MaxSteps: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Run(ctx, msgOf(t, testMsg), Envelope{}, Runtime{})
	var re *RuntimeError
	if !errors.As(err, &re) || re.Limit != "MaxCPUTime" {
		t.Fatalf("want MaxCPUTime, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopped only after %v", d)
	}
}

func TestCompileLimits(t *testing.T) {
	deep := strings.Repeat("if true {", 100) + strings.Repeat("}", 100)
	if _, err := Compile("deep", []byte(deep), Options{}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
	deepTests := "if " + strings.Repeat("not ", 100) + "true { keep; }"
	if _, err := Compile("deep", []byte(deepTests), Options{}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep tests: %v", err)
	}
	if _, err := Compile("big", []byte(strings.Repeat("keep;", 100)), Options{Limits: Limits{MaxScriptSize: 10}}); err == nil || !strings.Contains(err.Error(), "script is too large") {
		t.Errorf("size: %v", err)
	}
	inc := includeFiles{}
	for i := 0; i < 20; i++ {
		inc["personal/s"+string(rune('a'+i))] = `require "include"; include "s` + string(rune('a'+i+1)) + `";`
	}
	inc["personal/su"] = `keep;`
	if _, err := Compile("main", []byte(`require "include"; include "sa";`), Options{Include: inc}); err == nil || !strings.Contains(err.Error(), "include nesting is too deep") {
		t.Errorf("include depth: %v", err)
	}
}

// TestConcurrentRuns: one compiled script, many goroutines (run with -race).
func TestConcurrentRuns(t *testing.T) {
	s := compileT(t, `require ["variables","fileinto","imap4flags","regex","editheader","body"];
if header :matches "subject" "* invoice *" { set "n" "${2}"; addflag "\\Seen"; }
if header :regex "subject" "([0-9]+)$" { addheader "X-N" "${1}"; }
if body :contains "text" { fileinto "n${n}"; }`)
	m := msgOf(t, testMsg)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				res, err := s.Run(context.Background(), m, Envelope{}, Runtime{})
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := formatResult(res); got != "addheader X-N: 42; fileinto n42 [\\Seen]" {
					errs <- got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestManyMIMEPartsCountAsWork(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := 0; i < 2000; i++ {
		b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	b.WriteString("--B--\r\n")
	s, err := Compile("parts", []byte(`require "body"; if body :contains "y" { discard; }`), Options{Limits: Limits{MaxSteps: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), msgOf(t, b.String()), Envelope{}, Runtime{})
	var re *RuntimeError
	if !errors.As(err, &re) || re.Limit != "MaxSteps" {
		t.Fatalf("want MaxSteps, got %v", err)
	}
}
