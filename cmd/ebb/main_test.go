package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/cli"
)

func ebb(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"ebb"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// Every command and subcommand in the table answers --help, -h and
// "ebb help ..." with its own usage on stdout and exit 0, shows long
// options as --name, and hides internal flags. A command added to the
// table is walked too.
func TestEveryCommandAnswersHelp(t *testing.T) {
	shortFlag := regexp.MustCompile(`(?m)^  -[a-zA-Z0-9][a-zA-Z0-9-]+`) // "-quota": a long option with one dash
	n := 0
	cli.Walk(root, "ebb", func(cmd *cli.Command, name string) {
		if cmd == root {
			return
		}
		n++
		path := strings.Fields(name)[1:]
		for _, args := range [][]string{
			append(append([]string{}, path...), "--help"),
			append(append([]string{}, path...), "-h"),
			append([]string{"help"}, path...),
		} {
			code, out, errs := ebb(t, args...)
			if code != 0 || errs != "" {
				t.Errorf("ebb %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
				continue
			}
			if !strings.Contains(out, "usage: "+name) {
				t.Errorf("ebb %s: no \"usage: %s\" in:\n%s", strings.Join(args, " "), name, out)
			}
			if shortFlag.MatchString(out) || strings.Contains(out, "--probe") || strings.Contains(out, "Usage of") {
				t.Errorf("ebb %s: a long option shown with one dash, or an internal flag:\n%s", strings.Join(args, " "), out)
			}
		}
	})
	if n < 40 {
		t.Errorf("walked %d commands; the table has more", n)
	}
}

func TestTopLevelHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, _ := ebb(t, args...)
		if code != 0 || !strings.Contains(out, "usage: ebb COMMAND") || !strings.Contains(out, "  sieve ") || !strings.Contains(out, "  version ") {
			t.Errorf("ebb %s: exit %d:\n%s", args[0], code, out)
		}
	}
	if code, out, errs := ebb(t); code != 64 || out != "" || !strings.Contains(errs, "usage: ebb COMMAND") {
		t.Errorf("ebb without a command: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs := ebb(t, "frobnicate"); code != 64 || !strings.Contains(errs, `ebb: unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	if code, _, errs := ebb(t, "user", "frobnicate"); code != 64 || !strings.Contains(errs, `ebb user: unknown subcommand "frobnicate"`) {
		t.Errorf("unknown subcommand: exit %d, %q", code, errs)
	}
	version := regexp.MustCompile(`^ebb \S+ \(commit \S+.*; go1\.\d+`)
	for _, args := range [][]string{{"--version"}, {"version"}, {"-V"}} {
		code, out, _ := ebb(t, args...)
		if code != 0 || !version.MatchString(out) {
			t.Errorf("ebb %s: exit %d, %q", args[0], code, out)
		}
	}
}

// As sendmail, -h is the hop count and keeps sendmail's meaning.
func TestSendmailKeepsItsOwnDashH(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"/usr/sbin/sendmail", "-h"}, strings.NewReader(""), &out, &errb)
	if code != 64 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "sendmail: ") {
		t.Errorf("sendmail -h: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
