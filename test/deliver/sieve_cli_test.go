package deliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The output of `ebb sieve check` and `ebb sieve test` is a stable format
// (docs/sieve.md): these tests pin it line by line.

func sieveCLI(t *testing.T, dir string, args ...string) harness.Result {
	t.Helper()
	cfg := filepath.Join(dir, "empty.toml")
	os.WriteFile(cfg, nil, 0o644)
	full := append([]string{"sieve", args[0], "-c", cfg}, args[1:]...)
	return harness.Run(t, exec.Command(harness.Ebb(t), full...), nil)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const cliMsg = `Return-Path: <alice@example.org>
From: Alice <alice@example.org>
To: Bob <bob@example.com>
Subject: Your invoice 42
Message-ID: <i42@example.org>

Hello.
`

func TestSieveCheckReportsFileLineColumn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"good.sieve": "require \"fileinto\";\nfileinto \"x\";\n",
		"bad.sieve":  "require \"fileinto\";\nif true {\n  fileinto \"x\"\n}\n",
	})
	r := sieveCLI(t, dir, "check", filepath.Join(dir, "good.sieve"))
	if r.Code != 0 || r.Stdout != filepath.Join(dir, "good.sieve")+": ok (requires: fileinto)\n" {
		t.Errorf("good script: exit %d, stdout %q", r.Code, r.Stdout)
	}
	bad := filepath.Join(dir, "bad.sieve")
	r = sieveCLI(t, dir, "check", filepath.Join(dir, "good.sieve"), bad)
	if r.Code != 1 {
		t.Errorf("exit %d, want 1 when one script does not compile", r.Code)
	}
	first, _, _ := strings.Cut(r.Stderr, "\n")
	if !strings.HasPrefix(first, bad+":4:1: error: ") || !strings.Contains(first, "expected end of command ';'") {
		t.Errorf("first error line %q, want %s:4:1: error: expected end of command ';' ...", first, bad)
	}
}

func TestSieveTestOutputFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg.eml")
	writeFiles(t, dir, map[string]string{"msg.eml": cliMsg})
	for _, c := range []struct {
		name, script string
		args         []string
		code         int
		want         string
	}{
		{"implicit keep only", "", nil, 0, "implicit keep\n"},
		{"fileinto with flags and copy", "require [\"fileinto\", \"imap4flags\", \"copy\"];\nfileinto :copy :flags [\"$Label\", \"\\\\Seen\"] \"Finance\";\n", nil, 0,
			"fileinto \"Finance\" flags \"$Label\" \"\\\\Seen\" :copy\nimplicit keep\n"},
		{"keep discard redirect", "keep;\nredirect \"a@example.net\";\ndiscard;\n", nil, 0, "keep\nredirect \"a@example.net\"\ndiscard\n"},
		{"reject with a line break", "require \"reject\";\nreject text:\nNo.\nGo away.\n.\n;\n", nil, 0, "reject \"No.\\r\\nGo away.\\r\\n\"\n"},
		{"ereject", "require \"ereject\";\nereject \"no\";\n", nil, 0, "ereject \"no\"\n"},
		{"vacation to the envelope sender", "require \"vacation\";\nvacation :days 2 :subject \"Away\" :handle \"h\" \"I am \\\"away\\\".\";\n",
			[]string{"--from", "carol@example.net"}, 0,
			"vacation to=\"carol@example.net\" subject=\"Away\" seconds=172800 handle=\"h\" reason=\"I am \\\"away\\\".\"\nimplicit keep\n"},
		{"vacation to the Return-Path by default", "require \"vacation\";\nvacation :handle \"h\" \"x\";\n", nil, 0,
			"vacation to=\"alice@example.org\" seconds=604800 handle=\"h\" reason=\"x\"\nimplicit keep\n"},
		{"vacation skipped for the null sender", "require \"vacation\";\nvacation :handle \"h\" \"x\";\n", []string{"--from", "<>"}, 0,
			"vacation to=\"\" seconds=604800 handle=\"h\" skip=\"null sender\" reason=\"x\"\nimplicit keep\n"},
		{"header edits", "require \"editheader\";\naddheader :last \"X-Seen\" \"yes\";\ndeleteheader \"subject\";\n", nil, 0,
			"addheader \"X-Seen\" \"yes\" :last\ndeleteheader \"subject\" index 1\nimplicit keep\n"},
		{"envelope options", "require [\"envelope\", \"fileinto\", \"variables\"];\nif envelope :matches \"to\" \"*\" { fileinto \"${1}\"; }\n",
			[]string{"--to", "bob+x@example.com"}, 0, "fileinto \"bob+x@example.com\"\n"},
		{"runtime error keeps", "redirect \"a@x.example\";\nredirect \"b@x.example\";\nredirect \"c@x.example\";\nredirect \"d@x.example\";\nredirect \"e@x.example\";\n", nil, 1,
			"error \"*\"\nimplicit keep\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			script := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".sieve")
			writeFiles(t, dir, map[string]string{filepath.Base(script): c.script})
			args := append([]string{"test", script, msg}, c.args...)
			r := sieveCLI(t, dir, args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", r.Code, c.code, r.Stderr)
			}
			got := r.Stdout
			if strings.HasPrefix(c.want, "error \"*\"") && strings.HasPrefix(got, "error \"") {
				got = "error \"*\"" + got[strings.Index(got, "\"\n")+1:]
			}
			if got != c.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestSieveTestCompileErrorAndTrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"msg.eml": cliMsg, "bad.sieve": "frobnicate;\n",
		"ok.sieve": "if header :contains \"subject\" \"invoice\" { discard; }\n"})
	r := sieveCLI(t, dir, "test", filepath.Join(dir, "bad.sieve"), filepath.Join(dir, "msg.eml"))
	if r.Code != 2 || r.Stdout != "" || !strings.HasPrefix(r.Stderr, filepath.Join(dir, "bad.sieve")+":1:1: error: ") {
		t.Errorf("compile error: exit %d, stdout %q, stderr %q; want exit 2, FILE:1:1: error: on stderr", r.Code, r.Stdout, r.Stderr)
	}
	r = sieveCLI(t, dir, "test", filepath.Join(dir, "ok.sieve"), filepath.Join(dir, "msg.eml"), "--trace")
	if r.Code != 0 || r.Stdout != "discard\n" {
		t.Errorf("exit %d, stdout %q", r.Code, r.Stdout)
	}
	for _, want := range []string{"header", "Your invoice 42", "invoice", "true"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("--trace output lacks %q:\n%s", want, r.Stderr)
		}
	}
}
