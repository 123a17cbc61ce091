// Command sieve benchmarks ebb's Sieve interpreter beside Pigeonhole.
//
// A 50-rule script (the kind a user builds in Roundcube over years: list
// filing by List-Id, sender rules, subject tags with variables, a regex, a
// body test, flags) runs over 10,000 generated messages:
//
//   - ebb in process: compile once, then for each message open its file,
//     parse the header (sieve.NewMessage) and run the script. Prints
//     evaluations/s and heap allocations per evaluation.
//   - one process per message, as an MDA runs: `ebb sieve test` and
//     Pigeonhole's `sieve-test` on the same messages (a sample, default 300:
//     sieve-test costs a process start each), per-message wall time. This is
//     the only fair comparison with sieve-test, which cannot evaluate many
//     messages in one process; it includes process start-up on both sides.
//
// Both sides' action lists are compared on the sample (a benchmark of a
// wrong answer is worthless). Run as root from the repository root (sieve-test
// refuses root; it is run as the user ebbtest, created when missing):
//
//	go run ./bench/sieve                  # 10000 messages, 300 per process
//	go run ./bench/sieve -n 2000 -sample 100
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/test/harness"
)

func main() {
	n := flag.Int("n", 10000, "messages")
	sample := flag.Int("sample", 300, "messages run one process each (ebb sieve test and sieve-test)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("run as root: sieve-test must run as an unprivileged user (ebbtest)")
	}
	work, err := os.MkdirTemp("/var/tmp", "ebb-bench-sieve-")
	if err != nil {
		fatal("%v", err)
	}
	os.Chmod(work, 0o755)
	defer os.RemoveAll(work)

	u := ensureUser("ebbtest")
	script := filepath.Join(work, "rules.sieve")
	src := rules()
	must(os.WriteFile(script, []byte(src), 0o644))
	msgs := filepath.Join(work, "msgs")
	must(os.MkdirAll(msgs, 0o755))
	rng := rand.New(rand.NewSource(42))
	paths := make([]string, *n)
	for i := range paths {
		paths[i] = filepath.Join(msgs, fmt.Sprintf("%05d.eml", i))
		must(os.WriteFile(paths[i], message(rng, i), 0o644))
	}
	ebb := filepath.Join(work, "ebb")
	build := exec.Command("go", "build", "-o", ebb, "./cmd/ebb")
	build.Stderr = os.Stderr
	must(build.Run())
	must(os.Chown(work, u.UID, u.GID)) // sieve-test writes rules.svbin next to the script

	// ebb in process.
	s, err := sieve.Compile("rules.sieve", []byte(src), sieve.Options{Extensions: sieve.PigeonholeDefaultExtensions})
	if err != nil {
		fatal("compile: %v", err)
	}
	ctx := context.Background()
	eval := func(p string) *sieve.Result {
		f, err := os.Open(p)
		if err != nil {
			fatal("%v", err)
		}
		defer f.Close()
		st, _ := f.Stat()
		m, err := sieve.NewMessage(f, st.Size())
		if err != nil {
			fatal("%s: %v", p, err)
		}
		res, err := s.Run(ctx, m, sieve.Envelope{From: "sender@example.net", To: "bob@example.com"}, sieve.Runtime{})
		if err != nil {
			fatal("%s: %v", p, err)
		}
		return res
	}
	for _, p := range paths[:min(200, len(paths))] { // warm up
		eval(p)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	filed := 0
	for _, p := range paths {
		if res := eval(p); !res.ImplicitKeep {
			filed++
		}
	}
	inProc := time.Since(start)
	runtime.ReadMemStats(&after)
	allocs := float64(after.Mallocs-before.Mallocs) / float64(len(paths))
	bytesPer := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(paths))

	// One process per message, same sample for both.
	k := min(*sample, len(paths))
	step := max(1, len(paths)/k)
	var sampled []string
	for i := 0; i < len(paths) && len(sampled) < k; i += step {
		sampled = append(sampled, paths[i])
	}
	env := []string{"HOME=" + work, "PATH=/usr/bin:/bin"}
	var ebbTime, phTime time.Duration
	mismatch := 0
	for _, p := range sampled {
		t0 := time.Now()
		out, err := runAs(u, env, ebb, "sieve", "test", "-c", "/dev/null", "--extensions", "none pigeonhole",
			"--from", "sender@example.net", "--to", "bob@example.com", script, p)
		ebbTime += time.Since(t0)
		if err != nil {
			fatal("ebb sieve test %s: %v\n%s", p, err, out)
		}
		t0 = time.Now()
		phOut, err := runAs(u, env, "sieve-test", "-f", "sender@example.net", "-r", "bob@example.com", script, p)
		phTime += time.Since(t0)
		if err != nil {
			fatal("sieve-test %s: %v\n%s", p, err, phOut)
		}
		got, _ := harness.NormaliseEbb(string(out), "", 0)
		want, err := harness.NormalisePigeonhole(string(phOut), "final result: success", 0)
		if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
			mismatch++
			if mismatch <= 3 {
				fmt.Fprintf(os.Stderr, "actions differ on %s:\nebb:\n%s\nsieve-test:\n%s\n", p, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}

	perIn := inProc / time.Duration(len(paths))
	perEbb := ebbTime / time.Duration(len(sampled))
	perPH := phTime / time.Duration(len(sampled))
	fmt.Printf("Sieve: a %d-rule script, %d messages (%d filed, %d implicit keep); Pigeonhole %s\n\n",
		countRules(src), len(paths), filed, len(paths)-filed, pigeonholeVersion())
	fmt.Printf("%-44s %14s %14s %12s\n", "", "evaluations/s", "per message", "allocs/eval")
	fmt.Printf("%-44s %14.0f %14s %12.0f   (%.1f KiB/eval)\n", "ebb, in process (compile once)", float64(len(paths))/inProc.Seconds(), perIn.Round(time.Microsecond), allocs, bytesPer/1024)
	fmt.Printf("%-44s %14.1f %14s %12s\n", fmt.Sprintf("ebb sieve test, one process/message (%d)", len(sampled)), float64(len(sampled))/ebbTime.Seconds(), perEbb.Round(time.Microsecond), "-")
	fmt.Printf("%-44s %14.1f %14s %12s\n", fmt.Sprintf("sieve-test, one process/message (%d)", len(sampled)), float64(len(sampled))/phTime.Seconds(), perPH.Round(time.Microsecond), "-")
	fmt.Printf("\nratio per message, process each: sieve-test / ebb sieve test = %.2fx\n", float64(perPH)/float64(perEbb))
	fmt.Printf("ratio per message: sieve-test (process each) / ebb in process = %.0fx (sieve-test cannot run many messages in one process; this is what an MDA pays)\n", float64(perPH)/float64(perIn))
	fmt.Printf("action lists compared on the sample: %d/%d equal\n", len(sampled)-mismatch, len(sampled))
	if mismatch > 0 {
		os.Exit(1)
	}
}

func runAs(u harness.User, env []string, prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &bytes.Buffer{}
	err := cmd.Run()
	return out.Bytes(), err
}

func pigeonholeVersion() string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "dovecot-sieve").Output()
	return "(dovecot-sieve " + string(out) + ")"
}

func ensureUser(name string) harness.User {
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil {
			fatal("useradd %s: %v %s", name, err, out)
		}
	}
	u, err := harness.LookupUser(name)
	if err != nil {
		fatal("%v", err)
	}
	return u
}

func countRules(src string) int { return strings.Count(src, "\nif ") + strings.Count(src, "\nelsif ") }

// rules is a 50-rule script in Pigeonhole's default extension set.
func rules() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "envelope", "imap4flags", "variables", "regex", "body", "relational", "comparator-i;ascii-numeric", "subaddress", "copy"];
# 50 rules, most specific first, as users accumulate them.
`)
	lists := []string{"linux-kernel", "golang-nuts", "debian-devel", "postfix-users", "dovecot", "netdev", "rust-users", "python-dev", "haskell-cafe", "openbsd-misc",
		"freebsd-hackers", "lwn", "nanog", "ietf", "emacs-devel", "vim-dev", "git", "lkml-stable", "qemu-devel", "kvm"}
	for i, l := range lists { // 20 list rules
		kw := "if"
		if i > 0 {
			kw = "elsif"
		}
		fmt.Fprintf(&b, "%s header :contains \"list-id\" \"<%s.\" { fileinto \"Lists.%s\"; }\n", kw, l, l)
	}
	b.WriteString("\n")
	senders := []string{"boss@example.com", "hr@example.com", "ceo@example.com", "it@example.com", "payroll@example.com",
		"alerts@monitoring.example.net", "noreply@github.example", "billing@hosting.example", "support@registrar.example", "bank@bank.example"}
	for _, s := range senders { // 10 sender rules
		fmt.Fprintf(&b, "if address :is \"from\" %q { addflag \"\\\\Flagged\"; fileinto :copy \"People.%s\"; }\n", s, strings.Split(s, "@")[0])
	}
	subjects := []string{"invoice", "receipt", "order", "shipping", "password", "security alert", "newsletter", "webinar", "meeting", "urgent"}
	for _, s := range subjects { // 10 subject rules
		fmt.Fprintf(&b, "if header :contains \"subject\" %q { set \"tag\" %q; }\n", s, strings.ReplaceAll(s, " ", "-"))
	}
	b.WriteString(`if header :matches "subject" "[*] *" { set :lower "prefix" "${1}"; }
if string :is "${tag}" "invoice" { fileinto "Finance.${tag}"; }
if header :regex "subject" "^(re|fwd?): *ticket #([0-9]+)" { fileinto "Tickets.${2}"; }
if envelope :detail :matches "to" "?*" { fileinto "Plus.${0}"; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "Junk"; stop; }
if exists "x-mailer-daemon" { discard; stop; }
if size :over 500K { addflag "$Big"; }
if allof (address :domain :is "from" "example.com", not exists "list-id") { addflag "$Work"; }
if body :text :contains "unsubscribe" { addflag "$Bulk"; }
if anyof (header :contains "precedence" "bulk", header :contains "auto-submitted" "auto-") { fileinto "Automated"; }
`)
	return b.String()
}

var words = strings.Fields("the quick brown fox jumps over a lazy dog while kernel patches and invoices arrive daily from many lists and people who write long messages about meetings orders security")

// message generates a varied message of 1..6 KiB.
func message(rng *rand.Rand, i int) []byte {
	var b bytes.Buffer
	lists := []string{"linux-kernel", "golang-nuts", "debian-devel", "postfix-users", "nanog", "kvm", ""}
	senders := []string{"boss@example.com", "friend@example.org", "noreply@github.example", "shop@store.example", "random@spam.example"}
	subjects := []string{"Your invoice %d", "Re: ticket #%d", "[PATCH %d/3] fix", "meeting at %d", "hello %d", "security alert %d", "newsletter %d"}
	fmt.Fprintf(&b, "Return-Path: <sender@example.net>\n")
	fmt.Fprintf(&b, "Received: from mx%d.example.net by mx.example.com; Sat, 28 Nov 2026 10:%02d:00 +0000\n", i%10, i%60)
	fmt.Fprintf(&b, "Date: Sat, 28 Nov 2026 10:%02d:00 +0000\n", i%60)
	fmt.Fprintf(&b, "From: Someone <%s>\n", senders[rng.Intn(len(senders))])
	fmt.Fprintf(&b, "To: Bob <bob@example.com>\n")
	fmt.Fprintf(&b, "Subject: "+subjects[rng.Intn(len(subjects))]+"\n", rng.Intn(1000))
	fmt.Fprintf(&b, "Message-ID: <%d.bench@example.net>\n", i)
	if l := lists[rng.Intn(len(lists))]; l != "" {
		fmt.Fprintf(&b, "List-Id: %s <%s.lists.example.org>\nPrecedence: list\n", l, l)
	}
	fmt.Fprintf(&b, "X-Spam-Score: %d\n", rng.Intn(8))
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
	n := 1024 + rng.Intn(5*1024)
	for line := 0; b.Len() < n; line++ {
		for j := 0; j < 10; j++ {
			b.WriteString(words[rng.Intn(len(words))] + " ")
		}
		b.WriteString("\n")
		if line == 20 && rng.Intn(3) == 0 {
			b.WriteString("To unsubscribe, write to the list owner.\n")
		}
	}
	return b.Bytes()
}

func must(err error) {
	if err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/sieve: "+format+"\n", args...)
	os.Exit(1)
}
