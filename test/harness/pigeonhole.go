package harness

// Pigeonhole's sieve-test (package dovecot-sieve) is the reference the Sieve
// differential corpus is checked against: test/testdata/sieve/<case>/ holds a
// script, a message, the envelope and settings, and the action list
// Pigeonhole produced, normalised to the line format of `ebb sieve test`
// (docs/sieve.md). These functions return errors instead of failing a test
// so that the corpus generator (test/testdata/sieve/gen) can use them too.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/sieve"
)

// SieveCase is one script/message/envelope triple of the corpus.
type SieveCase struct {
	Name        string
	Dir         string
	Description string
	From, To    string // envelope; always set by the corpus
	// PigeonholeExt is sieve-test's -x argument ("+editheader +spamtest").
	PigeonholeExt string
	// PigeonholeOpts are -o settings ("plugin/sieve_spamtest_max_value=10").
	PigeonholeOpts []string
	// EbbArgs are extra arguments for `ebb sieve test` that give it the facts
	// Pigeonhole derives from its settings (spam scores, environment items).
	EbbArgs []string
	// Replace rewrites the script for Pigeonhole only (old=new), for
	// commands Debian's build lacks: ereject is compiled only with
	// HAVE_SIEVE_UNFINISHED and is documented as equal to reject.
	Replace [][2]string
	// Folders exist in the Maildir both sides see (mailboxexists).
	Folders []string
	// Expected is the recorded normalised Pigeonhole output (file "expected").
	Expected []string
}

// ScriptPath and MessagePath are the case's inputs.
func (c SieveCase) ScriptPath() string  { return filepath.Join(c.Dir, "script.sieve") }
func (c SieveCase) MessagePath() string { return filepath.Join(c.Dir, "msg.eml") }

// HasDir reports whether the case has the include directory sub ("personal"
// or "global").
func (c SieveCase) HasDir(sub string) bool {
	st, err := os.Stat(filepath.Join(c.Dir, sub))
	return err == nil && st.IsDir()
}

// LoadSieveCorpus reads every case directory under root (those holding a
// script.sieve), sorted by name.
func LoadSieveCorpus(root string) ([]SieveCase, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []SieveCase
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "script.sieve")); err != nil {
			continue
		}
		c, err := LoadSieveCase(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LoadSieveCase reads one case directory. The "args" file holds one
// "key: value" per line; keys may repeat where a list is meant.
func LoadSieveCase(dir string) (SieveCase, error) {
	c := SieveCase{Name: filepath.Base(dir), Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		return c, err
	}
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return c, fmt.Errorf("%s/args:%d: want \"key: value\", found %q", dir, n+1, line)
		}
		val = strings.TrimPrefix(val, " ")
		switch key {
		case "description":
			c.Description = val
		case "from":
			c.From = val
		case "to":
			c.To = val
		case "pigeonhole-ext":
			c.PigeonholeExt = val
		case "pigeonhole-option":
			c.PigeonholeOpts = append(c.PigeonholeOpts, val)
		case "ebb-arg":
			c.EbbArgs = append(c.EbbArgs, val)
		case "pigeonhole-replace":
			old, nw, ok := strings.Cut(val, " => ")
			if !ok {
				return c, fmt.Errorf("%s/args:%d: pigeonhole-replace wants \"old => new\"", dir, n+1)
			}
			c.Replace = append(c.Replace, [2]string{old, nw})
		case "folders":
			c.Folders = strings.Fields(val)
		default:
			return c, fmt.Errorf("%s/args:%d: unknown key %q", dir, n+1, key)
		}
	}
	if exp, err := os.ReadFile(filepath.Join(dir, "expected")); err == nil {
		c.Expected = SplitLines(string(exp))
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	return c, nil
}

// SplitLines splits normalised output into lines, dropping the final newline.
func SplitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// LookupUser returns an existing system user.
func LookupUser(name string) (User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return User{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid}, nil
}

// SieveWorkDir lays out a case for one run under work (which must not exist
// yet): the script (with the replacements applied when forPigeonhole), the
// message, personal/ and global/ include directories, a Maildir with the
// case's folders, and a home directory — all owned by u, since sieve-test
// caches a compiled .svbin next to each script and refuses to run as root.
func SieveWorkDir(c SieveCase, work string, u User, forPigeonhole bool) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	script, err := os.ReadFile(c.ScriptPath())
	if err != nil {
		return err
	}
	if forPigeonhole {
		for _, r := range c.Replace {
			script = bytes.ReplaceAll(script, []byte(r[0]), []byte(r[1]))
		}
	}
	if err := os.WriteFile(filepath.Join(work, "script.sieve"), script, 0o644); err != nil {
		return err
	}
	msg, err := os.ReadFile(c.MessagePath())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "msg.eml"), msg, 0o644); err != nil {
		return err
	}
	for _, sub := range []string{"personal", "global"} {
		dst := filepath.Join(work, sub)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		ents, _ := os.ReadDir(filepath.Join(c.Dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(c.Dir, sub, e.Name()))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
				return err
			}
		}
	}
	md := filepath.Join(work, "Maildir")
	dirs := []string{md}
	for _, f := range c.Folders {
		dirs = append(dirs, filepath.Join(md, "."+f))
	}
	for _, d := range dirs {
		for _, s := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(d, s), 0o755); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(work, "home"), 0o755); err != nil {
		return err
	}
	return filepath.Walk(work, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.UID, u.GID)
	})
}

// PigeonholeRun is one sieve-test run.
type PigeonholeRun struct {
	Args           []string
	Code           int
	Stdout, Stderr string
	Normalised     []string
}

// RunPigeonhole runs sieve-test as u on case c in the fresh directory work
// and normalises its output.
func RunPigeonhole(c SieveCase, work string, u User) (PigeonholeRun, error) {
	if err := SieveWorkDir(c, work, u, true); err != nil {
		return PigeonholeRun{}, err
	}
	args := []string{
		"-l", "maildir:" + filepath.Join(work, "Maildir"),
		"-f", c.From, "-r", c.To,
		"-o", "plugin/sieve=file:" + filepath.Join(work, "personal"),
		"-o", "plugin/sieve_global=" + filepath.Join(work, "global"),
	}
	if c.PigeonholeExt != "" {
		args = append(args, "-x", c.PigeonholeExt)
	}
	for _, o := range c.PigeonholeOpts {
		args = append(args, "-o", o)
	}
	args = append(args, filepath.Join(work, "script.sieve"), filepath.Join(work, "msg.eml"))
	cmd := exec.Command("sieve-test", args...)
	cmd.Dir = work
	cmd.Env = []string{"HOME=" + filepath.Join(work, "home"), "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "USER=" + u.Name}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return PigeonholeRun{}, fmt.Errorf("start sieve-test: %w", err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return PigeonholeRun{}, fmt.Errorf("sieve-test on %s: no answer after 30s", c.Name)
	}
	r := PigeonholeRun{Args: args, Stdout: out.String(), Stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return r, err
		}
		r.Code = ee.ExitCode()
	}
	r.Normalised, err = NormalisePigeonhole(r.Stdout, r.Stderr, r.Code)
	return r, err
}

var (
	phLineNo    = regexp.MustCompile(`: line (\d+): error: `)
	phVacField  = regexp.MustCompile(`^\s+=> (\w+)\s*: (.*)$`)
	ebbLineNo   = regexp.MustCompile(`:(\d+):(\d+): error: `)
	quotedToken = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// NormalisePigeonhole turns sieve-test's dry-run report into the lines of
// `ebb sieve test`, reduced to what both can express (see NormaliseEbb):
//
//	keep / fileinto "F" [flags ...] [:copy] [:create]   ("store message in folder")
//	redirect "a" [:copy] / reject "r" / discard
//	vacation seconds=N [subject="s"] [from="f"] handle="h" reason="r"
//	implicit keep [flags ...]
//	compile error line N     (the first error's line)
//	runtime error            (then "implicit keep")
//
// "track duplicate" lines are dropped: the duplicate test's bookkeeping is
// not an action in ebb's list.
func NormalisePigeonhole(stdout, stderr string, code int) ([]string, error) {
	if strings.Contains(stderr, "failed to compile sieve script") {
		line := "?"
		if m := phLineNo.FindStringSubmatch(stderr); m != nil {
			line = m[1]
		}
		return []string{"compile error line " + line}, nil
	}
	if strings.Contains(stderr, "final result: failed") {
		return []string{"runtime error", "implicit keep"}, nil
	}
	if code != 0 || !strings.Contains(stderr, "final result: success") {
		return nil, fmt.Errorf("sieve-test exit %d without a result:\n%s\n%s", code, stdout, stderr)
	}
	var out []string
	section := ""
	lines := strings.Split(strings.ReplaceAll(stdout, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case l == "Performed actions:":
			section = "performed"
		case l == "Implicit keep:":
			section = "implicit"
		case strings.TrimSpace(l) == "" || strings.TrimSpace(l) == "(none)":
		case strings.HasPrefix(l, " * store message in folder: "):
			box := strings.TrimPrefix(l, " * store message in folder: ")
			var s string
			switch {
			case section == "implicit":
				s = "implicit keep"
			case box == "INBOX":
				s = "keep"
			default:
				s = "fileinto " + sieve.Quote(box)
			}
			var flags []string
			copyTag, create := false, false
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "        + ") {
				i++
				mod := strings.TrimPrefix(lines[i], "        + ")
				switch {
				case strings.HasPrefix(mod, "add IMAP flags: "):
					flags = append(flags, strings.Fields(strings.TrimPrefix(mod, "add IMAP flags: "))...)
				case mod == "preserve implicit keep":
					copyTag = true
				case mod == "create mailbox if it does not exist":
					create = true
				default:
					return nil, fmt.Errorf("sieve-test: unknown store modifier %q", mod)
				}
			}
			if s == "keep" {
				// fileinto :copy "INBOX": a store into INBOX that leaves the
				// implicit keep (also INBOX) in place is the same one store
				// as a keep; ebb lists it as keep.
				copyTag = false
			}
			out = append(out, s+flagSuffix(flags)+tagIf(copyTag, " :copy")+tagIf(create, " :create"))
		case strings.HasPrefix(l, " * redirect message to: "):
			addr := strings.TrimSuffix(strings.TrimPrefix(l, " * redirect message to: <"), ">")
			s := "redirect " + sieve.Quote(addr)
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "        + ") {
				i++
				if strings.TrimPrefix(lines[i], "        + ") == "preserve implicit keep" {
					s += " :copy"
				}
			}
			out = append(out, s)
		case strings.HasPrefix(l, " * reject message with reason: "):
			out = append(out, "reject "+sieve.Quote(strings.TrimPrefix(l, " * reject message with reason: ")))
		case l == " * discard":
			out = append(out, "discard")
		case strings.HasPrefix(l, " * track "):
		case l == " * send vacation message:":
			fields := map[string]string{}
			for i+1 < len(lines) {
				m := phVacField.FindStringSubmatch(lines[i+1])
				if m == nil {
					break
				}
				i++
				fields[m[1]] = m[2]
			}
			for i+1 < len(lines) && lines[i+1] != "START MESSAGE" {
				i++
			}
			i++
			var reason []string
			for i+1 < len(lines) && lines[i+1] != "END MESSAGE" {
				i++
				reason = append(reason, lines[i])
			}
			i++
			out = append(out, vacationLine(fields["seconds"], fields["subject"], fields["from"], fields["handle"], strings.Join(reason, "\n")))
		case strings.HasPrefix(l, "## "):
		default:
			return nil, fmt.Errorf("sieve-test: unrecognised output line %q", l)
		}
	}
	return out, nil
}

func vacationLine(seconds, subject, from, handle, reason string) string {
	s := "vacation seconds=" + seconds
	if subject != "" {
		s += " subject=" + sieve.Quote(subject)
	}
	if from != "" {
		s += " from=" + sieve.Quote(from)
	}
	// sieve-test prints only the first line of the handle.
	handle, _, _ = strings.Cut(strings.ReplaceAll(handle, "\r\n", "\n"), "\n")
	// Line ends: sieve-test prints the reason line by line; a text: reason
	// holds CRLF. Both are the same reply.
	reason = strings.TrimRight(strings.ReplaceAll(reason, "\r\n", "\n"), "\r\n")
	return s + " handle=" + sieve.Quote(handle) + " reason=" + sieve.Quote(reason)
}

func tagIf(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// flagSuffix prints flags as a set: system flags lowercased (IMAP flags are
// case-insensitive, RFC 3501 §2.3.2, and Pigeonhole prints them lowercased),
// sorted, without repeats.
func flagSuffix(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var fs []string
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			f = strings.ToLower(f)
		}
		if !seen[f] {
			seen[f] = true
			fs = append(fs, f)
		}
	}
	sort.Strings(fs)
	var b strings.Builder
	b.WriteString(" flags")
	for _, f := range fs {
		b.WriteString(" " + sieve.Quote(f))
	}
	return b.String()
}

// unquote reverses quote.
func unquote(q string) string {
	q = strings.TrimSuffix(strings.TrimPrefix(q, `"`), `"`)
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] != '\\' || i+1 == len(q) {
			b.WriteByte(q[i])
			continue
		}
		i++
		switch q[i] {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 < len(q) {
				if v, err := strconv.ParseUint(q[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 2
					continue
				}
			}
			b.WriteByte('x')
		default:
			b.WriteByte(q[i])
		}
	}
	return b.String()
}

// sanitize is what Pigeonhole does to a reject reason before printing it
// (str_sanitize): every control character becomes '?'. A bare LF counts as
// CRLF, since the reason goes out in a message with CRLF line ends.
func sanitize(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			b.WriteByte('?')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NormaliseEbb reduces `ebb sieve test` output to what Pigeonhole's report
// can be compared with: addheader/deleteheader lines go (sieve-test does not
// print header edits; the corpus checks them through later tests instead),
// fileinto "INBOX" becomes keep (sieve-test prints both as "store message in
// folder: INBOX"), flags become a sorted set, reject reasons are sanitised as
// Pigeonhole does, ereject becomes reject (the corpus runs Pigeonhole with
// reject for it), and vacation keeps the fields Pigeonhole prints.
func NormaliseEbb(stdout, stderr string, code int) ([]string, error) {
	if code != 0 && code != 1 {
		if m := ebbLineNo.FindStringSubmatch(stderr); m != nil {
			return []string{"compile error line " + m[1]}, nil
		}
		return nil, fmt.Errorf("ebb sieve test exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var out []string
	for _, l := range SplitLines(stdout) {
		word, rest, _ := strings.Cut(l, " ")
		switch word {
		case "addheader", "deleteheader":
		case "error":
			out = append(out, "runtime error")
		case "ereject", "reject":
			out = append(out, "reject "+sieve.Quote(sanitize(unquote(rest))))
		case "discard", "redirect":
			out = append(out, l)
		case "keep":
			out = append(out, normaliseFlags(strings.Replace(l, " :copy", "", 1)))
		case "fileinto":
			toks := quotedToken.FindAllStringSubmatchIndex(rest, 1)
			if toks != nil && toks[0][0] == 0 && unquote(rest[:toks[0][1]]) == "INBOX" {
				l = strings.Replace("keep"+rest[toks[0][1]:], " :copy", "", 1)
			}
			out = append(out, normaliseFlags(l))
		case "implicit":
			out = append(out, normaliseFlags(l))
		case "vacation":
			f := parseFields(rest)
			out = append(out, vacationLine(f["seconds"], f["subject"], f["from"], f["handle"], f["reason"]))
		default:
			return nil, fmt.Errorf("ebb sieve test: unrecognised output line %q", l)
		}
	}
	if code == 1 && (len(out) == 0 || out[0] != "runtime error") {
		return nil, fmt.Errorf("ebb sieve test exit 1 without an error line:\n%s\n%s", stdout, stderr)
	}
	return out, nil
}

// normaliseFlags rewrites the "flags ..." part of a keep/fileinto line as
// flagSuffix does, keeping the tags after it in place.
func normaliseFlags(l string) string {
	i := strings.Index(l, " flags ")
	if i < 0 {
		return l
	}
	head, rest := l[:i], l[i+len(" flags "):]
	var flags []string
	for {
		rest = strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(rest, `"`) {
			break
		}
		loc := quotedToken.FindStringIndex(rest)
		if loc == nil || loc[0] != 0 {
			break
		}
		flags = append(flags, unquote(rest[:loc[1]]))
		rest = rest[loc[1]:]
	}
	var tail string
	if rest != "" {
		tail = " " + rest
	}
	return head + flagSuffix(flags) + tail
}

// parseFields reads key=value pairs where values are quoted strings or bare
// words.
func parseFields(s string) map[string]string {
	f := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		if strings.HasPrefix(rest, `"`) {
			loc := quotedToken.FindStringIndex(rest)
			if loc == nil {
				break
			}
			f[key] = unquote(rest[:loc[1]])
			s = rest[loc[1]:]
			continue
		}
		val, after, _ := strings.Cut(rest, " ")
		f[key] = val
		s = after
	}
	return f
}

// DiffLines is a small line diff for failure messages: "-" lines only in
// want, "+" lines only in got, in order (LCS).
func DiffLines(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			fmt.Fprintf(w, "  %s\n", want[i])
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(w, "+ %s\n", got[j])
			j++
		default:
			fmt.Fprintf(w, "- %s\n", want[i])
			i++
		}
	}
	w.Flush()
	return b.String()
}
