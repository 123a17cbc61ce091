package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mda"
	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// runSieve is `ebb sieve check` and `ebb sieve test` (docs/sieve.md).
func runSieve(e *env) int {
	if len(e.args) == 0 {
		sieveUsage(e.stderr)
		return 64
	}
	sub, rest := e.args[0], e.args[1:]
	switch sub {
	case "check":
		return sieveCheck(e, rest)
	case "test":
		return sieveTest(e, rest)
	case "-h", "--help", "help":
		sieveUsage(e.stdout)
		return 0
	}
	fmt.Fprintf(e.stderr, "ebb sieve: unknown subcommand %q\n", sub)
	sieveUsage(e.stderr)
	return 64
}

func sieveUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ebb sieve check [-c FILE] [--extensions SPEC] SCRIPT...")
	fmt.Fprintln(w, "       ebb sieve test [-c FILE] SCRIPT MESSAGE [--from ADDR] [--to ADDR] [--trace] [options]")
	fmt.Fprintln(w, "see docs/sieve.md for the output format and every option")
}

// sieveFlags are the options both subcommands share.
type sieveFlags struct {
	cfgPath     string
	extensions  string
	personalDir string
	globalDir   string
}

func (f *sieveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cfgPath, "c", "", "config file (default "+config.DefaultPath+")")
	fs.StringVar(&f.extensions, "extensions", "", `change the extension set of sieve.extensions: "+editheader -regex", "pigeonhole", "none +fileinto"`)
	fs.StringVar(&f.personalDir, "personal-dir", "", "where include :personal finds scripts (default: the script's directory)")
	fs.StringVar(&f.globalDir, "global-dir", "", "where include :global finds scripts (default: sieve.global_dir)")
}

// compile loads cfg and compiles the script at path as sieve test/check do.
func (f *sieveFlags) compile(path string) (*sieve.Script, error) {
	cfg, err := config.Load(f.cfgPath)
	if err != nil {
		return nil, err
	}
	dirs := sievefilter.Dirs{Personal: f.personalDir, Global: f.globalDir}
	if dirs.Personal == "" {
		dirs.Personal = filepath.Dir(path)
	}
	if dirs.Global == "" {
		dirs.Global = cfg.Sieve.GlobalDir
	}
	opts, err := sievefilter.CompileOptions(cfg, dirs, f.extensions)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return sieve.Compile(path, src, opts)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`ebb sieve test FILE MESSAGE --from ADDR`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printCompileError writes each problem as FILE:LINE:COL: error: MESSAGE.
func printCompileError(w io.Writer, path string, err error) {
	var ces sieve.CompileErrors
	var ce *sieve.CompileError
	switch {
	case errors.As(err, &ces):
		for _, c := range ces {
			fmt.Fprintln(w, compileErrorLine(path, c))
		}
	case errors.As(err, &ce):
		fmt.Fprintln(w, compileErrorLine(path, ce))
	default:
		fmt.Fprintf(w, "%s: error: %v\n", path, err)
	}
}

func compileErrorLine(path string, c *sieve.CompileError) string {
	name := c.Script
	if name == "" {
		name = path
	}
	if c.Pos.Line == 0 {
		return fmt.Sprintf("%s: error: %s", name, c.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: error: %s", name, c.Pos.Line, c.Pos.Col, c.Msg)
}

// sieveCheck compiles scripts: exit 0 when all compile, 1 when one does not.
func sieveCheck(e *env, args []string) int {
	fs := flag.NewFlagSet("sieve check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var f sieveFlags
	f.register(fs)
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return 64
	}
	if len(files) == 0 {
		sieveUsage(e.stderr)
		return 64
	}
	code := 0
	for _, path := range files {
		s, err := f.compile(path)
		if err != nil {
			printCompileError(e.stderr, path, err)
			code = 1
			continue
		}
		fmt.Fprintf(e.stdout, "%s: ok (requires: %s)\n", path, strings.Join(s.Requires(), " "))
	}
	return code
}

// envList is a repeatable NAME=VALUE flag.
type envList map[string]string

func (l envList) String() string { return "" }
func (l envList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, found %q", v)
	}
	l[strings.ToLower(k)] = val
	return nil
}

// sieveTest is the dry run: it prints the actions one per line. Exit 0: the
// script ran; 1: it failed at run time (the message would be kept: the
// output says "error ..." then "implicit keep"); 2: it does not compile.
func sieveTest(e *env, args []string) int {
	fs := flag.NewFlagSet("sieve test", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var f sieveFlags
	f.register(fs)
	from := fs.String("from", "", "envelope sender (default: Return-Path, else From of the message); \"<>\" or \"\" for the null sender")
	to := fs.String("to", "", "envelope recipient (default: Delivered-To, else the first To address)")
	auth := fs.String("auth", "", "authenticated submitter (envelope \"auth\")")
	trace := fs.Bool("trace", false, "print which tests matched and why, on stderr")
	mdir := fs.String("maildir", "", "Maildir whose folders mailboxexists sees (default: only INBOX exists)")
	spam := fs.Int("spam-score", 0, "spamtest value 0..10 (0: not tested)")
	spamPct := fs.Int("spam-percent", -1, "spamtest :percent value 0..100 (-1: not tested)")
	virus := fs.Int("virus-score", 0, "virustest value 0..5 (0: not tested)")
	envs := envList{}
	fs.Var(envs, "env", "environment item NAME=VALUE (repeatable), e.g. --env location=MDA")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 64
	}
	fromSet := mda.Given(fs, "from")
	toSet := mda.Given(fs, "to")
	if len(pos) != 2 {
		sieveUsage(e.stderr)
		return 64
	}
	script, msgPath := pos[0], pos[1]

	s, err := f.compile(script)
	if err != nil {
		printCompileError(e.stderr, script, err)
		if sievefilter.IsCompileError(err) {
			return 2
		}
		return 66
	}
	mf, err := os.Open(msgPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb sieve test: %v\n", err)
		return 66
	}
	defer mf.Close()
	st, err := mf.Stat()
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb sieve test: %v\n", err)
		return 66
	}
	msg, err := sieve.NewMessage(mf, st.Size())
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb sieve test: read the message %s: %v\n", msgPath, err)
		return 65
	}
	envl := sieve.Envelope{From: *from, To: *to, Auth: *auth}
	if !fromSet {
		envl.From = headerAddress(msg, "Return-Path", "From")
	}
	if envl.From == "<>" {
		envl.From = ""
	}
	if !toSet {
		envl.To = headerAddress(msg, "Delivered-To", "To")
	}
	rt := sieve.Runtime{
		SpamScore: *spam, SpamPercent: *spamPct, VirusScore: *virus,
		Environment: envs,
	}
	if *trace {
		rt.Trace = e.stderr
	}
	if *mdir != "" {
		rt.MailboxExists = func(name string) bool { return mailboxExists(*mdir, name) }
	}
	res, err := s.Run(e.ctx, msg, envl, rt)
	if err != nil {
		fmt.Fprintln(e.stdout, "error "+sieve.Quote(err.Error()))
		fmt.Fprintln(e.stdout, "implicit keep")
		return 1
	}
	for _, line := range FormatActions(res) {
		fmt.Fprintln(e.stdout, line)
	}
	return 0
}

// headerAddress is the first address of the first present header of names.
func headerAddress(m sieve.Message, names ...string) string {
	for _, n := range names {
		for _, h := range m.Header() {
			if !strings.EqualFold(h.Name, n) {
				continue
			}
			v := strings.TrimSpace(h.Value)
			if v == "<>" {
				return ""
			}
			if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
				return list[0].Address
			}
			return strings.Trim(v, "<>")
		}
	}
	return ""
}

// mailboxExists: INBOX always; a folder when its Maildir++ directory has cur/.
func mailboxExists(top, name string) bool {
	if strings.EqualFold(name, "INBOX") {
		return true
	}
	dir, err := maildir.FolderDir(top, name)
	if err != nil {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && st.IsDir()
}

// FormatActions prints a result in the stable line format of docs/sieve.md.
func FormatActions(res *sieve.Result) []string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, formatAction(a))
	}
	if res.ImplicitKeep {
		out = append(out, "implicit keep"+flagsSuffix(res.ImplicitKeepFlags))
	}
	return out
}

func formatAction(a sieve.Action) string {
	switch a := a.(type) {
	case sieve.Keep:
		if a.Copy {
			return "keep" + flagsSuffix(a.Flags) + " :copy"
		}
		return "keep" + flagsSuffix(a.Flags)
	case *sieve.Keep:
		return formatAction(*a)
	case sieve.Discard, *sieve.Discard:
		return "discard"
	case sieve.FileInto:
		s := "fileinto " + sieve.Quote(a.Mailbox) + flagsSuffix(a.Flags)
		if a.Copy {
			s += " :copy"
		}
		if a.Create {
			s += " :create"
		}
		return s
	case *sieve.FileInto:
		return formatAction(*a)
	case sieve.Redirect:
		s := "redirect " + sieve.Quote(a.Address)
		if a.Copy {
			s += " :copy"
		}
		return s
	case *sieve.Redirect:
		return formatAction(*a)
	case sieve.Reject:
		if a.Extended {
			return "ereject " + sieve.Quote(a.Reason)
		}
		return "reject " + sieve.Quote(a.Reason)
	case *sieve.Reject:
		return formatAction(*a)
	case sieve.Vacation:
		s := "vacation to=" + sieve.Quote(a.To)
		if a.Subject != "" {
			s += " subject=" + sieve.Quote(a.Subject)
		}
		if a.From != "" {
			s += " from=" + sieve.Quote(a.From)
		}
		s += " seconds=" + strconv.FormatInt(a.Seconds, 10) + " handle=" + sieve.Quote(a.Handle)
		if a.Mime {
			s += " mime=yes"
		}
		if len(a.Addresses) > 0 {
			s += " addresses=" + sieve.Quote(strings.Join(a.Addresses, ", "))
		}
		if a.Skip != "" {
			s += " skip=" + sieve.Quote(a.Skip)
		}
		return s + " reason=" + sieve.Quote(a.Reason)
	case *sieve.Vacation:
		return formatAction(*a)
	case sieve.AddHeader:
		s := "addheader " + sieve.Quote(a.Name) + " " + sieve.Quote(a.Value)
		if a.Last {
			s += " :last"
		}
		return s
	case *sieve.AddHeader:
		return formatAction(*a)
	case sieve.DeleteHeader:
		s := "deleteheader " + sieve.Quote(a.Name)
		if len(a.Indexes) > 0 {
			s += " index"
			for _, i := range a.Indexes {
				s += " " + strconv.Itoa(i)
			}
		}
		return s
	case *sieve.DeleteHeader:
		return formatAction(*a)
	}
	return fmt.Sprintf("unknown %T", a)
}

// flagsSuffix prints " flags "\\Seen" "$Label"" (nothing without flags).
func flagsSuffix(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	fs := append([]string{}, flags...)
	sort.Strings(fs)
	var b strings.Builder
	b.WriteString(" flags")
	for _, f := range fs {
		b.WriteString(" " + sieve.Quote(f))
	}
	return b.String()
}
