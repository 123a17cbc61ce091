package fetch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// scriptServer answers the i-th line a client sends with the i-th chunk
// of a script (chunk 0 is the greeting; "%T" is the line's tag), and
// closes the connection when the script ends: whatever a server can send,
// in whatever order. It logs the lines it got.
type scriptServer struct {
	ln     net.Listener
	chunks [][]byte
	mu     sync.Mutex
	got    []string
}

// scriptSep separates the chunks of a fuzz script.
const scriptSep = "\n~~\n"

func newScriptServer(t testing.TB, script []byte) *scriptServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{ln: ln, chunks: bytes.Split(script, []byte(scriptSep))}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(s.chunks[0])
		r := bufio.NewReader(c)
		for _, ch := range s.chunks[1:] {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, strings.TrimRight(line, "\r\n"))
			s.mu.Unlock()
			tag, _, _ := strings.Cut(line, " ")
			if _, err := c.Write(bytes.ReplaceAll(ch, []byte("%T"), []byte(tag))); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *scriptServer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

var fuzzAccounts atomic.Int64

// fuzzFetch runs one pass of an account of protocol against script and
// checks what must hold whatever the server sent: no panic of ours (a
// recovered one is a failure of cause internal), the pass ends, and every
// message whose server copy the client asked to delete or move is one the
// queue delivered.
func fuzzFetch(t *testing.T, dir *directory.Directory, protocol, after string, script []byte) (*testQueue, []string) {
	// A pass that hangs is a failure with every goroutine's stack (the
	// fuzzer itself only says "hung", and its workers' output is lost):
	// the stacks go to $EBB_FUZZ_HANG when set.
	hang := time.AfterFunc(15*time.Second, func() {
		buf := make([]byte, 4<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if p := os.Getenv("EBB_FUZZ_HANG"); p != "" {
			os.WriteFile(p, []byte(fmt.Sprintf("%q\n%s", script, stacks)), 0o644)
		}
		panic("the pass hangs:\n" + stacks)
	})
	defer hang.Stop()
	srv := newScriptServer(t, script)
	q := newTestQueue(dir)
	f := testFetcher(dir, q)
	f.Cfg.Timeout.Duration = 300 * time.Millisecond
	f.SettleWait = 10 * time.Millisecond
	f.MaxMessageSize = 1 << 20
	addr := srv.ln.Addr().(*net.TCPAddr)
	name := fmt.Sprintf("f%d", fuzzAccounts.Add(1))
	a := fetchstate.FetchAccount{Name: name, Protocol: protocol, Host: "127.0.0.1", Port: addr.Port, TLS: "none", Username: "u",
		Password: "p", Auth: "password", Mailbox: "alice@example.test", After: after, MoveTo: "Archive", Enabled: true, Folders: []string{"INBOX"}}
	if err := fetchstate.New(dir).AddFetchAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	acc, _ := fetchstate.New(dir).FetchAccount(context.Background(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := f.Once(ctx, acc, nil)
	if causeOf(err) == CauseInternal {
		t.Fatalf("a panic in the pass: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the pass did not end: %v", err)
	}
	delivered := q.delivered()
	for _, l := range srv.lines() {
		fs := strings.Fields(strings.ToUpper(l))
		switch {
		case protocol == "imap" && len(fs) >= 4 && fs[1] == "UID" && (fs[2] == "STORE" || fs[2] == "MOVE" || fs[2] == "EXPUNGE"):
			for _, part := range strings.Split(fs[3], ",") {
				lo, hi, _ := strings.Cut(part, ":")
				if hi == "" {
					hi = lo
				}
				for u := atoiOr(lo); u <= atoiOr(hi) && u < atoiOr(lo)+1000; u++ {
					if delivered[fmt.Sprint(u)] == 0 {
						t.Fatalf("UID %d asked to be removed (%q) but never delivered (delivered %v)", u, l, delivered)
					}
				}
			}
		case protocol == "imap" && len(fs) >= 2 && fs[1] == "EXPUNGE":
			// Without UIDPLUS: only after a STORE of delivered UIDs (checked above).
		}
	}
	// POP3's DELE n names the n-th message of the listing the server sent:
	// that it was delivered is TestPOP3DeletesOnlyDelivered's check (a
	// fake server that keeps its listing); here the pass must end.
	return q, srv.lines()
}

// The first seeds are ordinary sessions: they deliver and delete, so the
// fuzzer starts from the paths that matter.
func TestFuzzSeedsAreOrdinarySessions(t *testing.T) {
	dir := testDirectory(t)
	q, lines := fuzzFetch(t, dir, "imap", "delete", imapSeeds()[0])
	if d := q.delivered(); len(d) != 2 || !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "UID EXPUNGE 1:2") }) {
		t.Fatalf("imap seed: delivered %v, lines %q", d, lines)
	}
	q, lines = fuzzFetch(t, dir, "pop3", "delete", pop3Seeds()[0])
	if d := q.delivered(); len(d) != 2 || !slices.Contains(lines, "DELE 2") || !slices.Contains(lines, "QUIT") {
		t.Fatalf("pop3 seed: delivered %v, lines %q", d, lines)
	}
}

func atoiOr(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int(c-'0')
		if n > 1<<30 {
			return n
		}
	}
	return n
}

func script(chunks ...string) []byte { return []byte(strings.Join(chunks, scriptSep)) }

const fuzzBody = "From: a@b\r\nSubject: s\r\n\r\nbody\r\n"

func imapSeeds() [][]byte {
	info := func(uid int) string {
		h := "From: a@b\r\n\r\n"
		return fmt.Sprintf("* %d FETCH (UID %d RFC822.SIZE %d BODY[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)] {%d}\r\n%s)\r\n", uid, uid, len(fuzzBody), len(h), h)
	}
	body := func(uid int) string {
		return fmt.Sprintf("* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n", uid, uid, len(fuzzBody), fuzzBody)
	}
	greet := "* OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE IDLE] hi\r\n"
	login := "%T OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE IDLE] logged in\r\n"
	sel := "* 2 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 3] x\r\n%T OK [READ-WRITE] done\r\n"
	search := "* SEARCH 1 2\r\n%T OK done\r\n"
	ok := "%T OK done\r\n"
	return [][]byte{
		script(greet, login, sel, search, info(1)+info(2)+ok, body(1)+body(2)+ok, ok, ok, "* BYE\r\n"+ok),
		script(greet, login, sel, search, info(1)+info(2)+ok, "* 1 FETCH (UID 1 BODY[] NIL)\r\n"+body(2)+ok, ok, ok, ok),
		script(greet, login, sel, search, info(1)+info(2)+ok, "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"+body(2)+"* 3 EXISTS\r\n"+ok, ok, ok, ok),
		script(greet, login, sel, search, info(1)+info(2)+ok, "* 1 FETCH (BODY[] {5}\r\nab"),
		script(greet, login, sel, search, info(1)+info(2)+ok, "* 1 FETCH (UID 1 BODY[] {99999999999}\r\n"),
		script(greet, login, sel, "* SEARCH "+strings.Repeat("1 ", 100)+"\r\n%T OK\r\n", ok, ok),
		script(greet, "%T NO [AUTHENTICATIONFAILED] no\r\n"),
		script(greet, login, "* 0 EXISTS\r\n%T OK done\r\n", search),
		script(greet, login, sel, search, info(1)+info(2)+ok, body(1)+body(1)+body(2)+ok, "%T NO cannot\r\n"),
		script("* PREAUTH hi\r\n", sel, search),
		script(greet, login, sel, search, "* 1 FETCH (UID 1 RFC822.SIZE -5)\r\n"+ok, ok),
		script(greet, login, sel, "* SEARCH 0 4294967295\r\n%T OK\r\n", ok, ok, ok),
		// go-imap spins for ever on a "(" in a capability list (guard.go).
		script("* OK [CAPABILITY IMAP4rev1 (x] hi\r\n", login),
		script(greet, "* CAPABILITY IMAP4rev1 (\r\n"+login, sel),
	}
}

// FuzzIMAPServer runs the fetcher against an IMAP server that answers
// with anything (go test -fuzz=FuzzIMAPServer ./internal/fetch).
func FuzzIMAPServer(f *testing.F) {
	for _, s := range imapSeeds() {
		f.Add(s, true)
		f.Add(s, false)
	}
	dir := testDirectory(f)
	f.Fuzz(func(t *testing.T, s []byte, move bool) {
		after := "delete"
		if move {
			after = "move"
		}
		fuzzFetch(t, dir, "imap", after, s)
	})
}

func pop3Seeds() [][]byte {
	ok := "+OK\r\n"
	uidl := "+OK\r\n1 a\r\n2 b\r\n.\r\n"
	list := "+OK\r\n1 31\r\n2 31\r\n.\r\n"
	retr := "+OK\r\n" + fuzzBody + ".\r\n"
	return [][]byte{
		// Pipelined: the second RETR and DELE are answered with the first.
		script("+OK hi\r\n", "+OK\r\nUIDL\r\nPIPELINING\r\n.\r\n", ok, ok, uidl, list, retr+retr, "", ok+ok, "", ok),
		script("+OK hi\r\n", "-ERR no\r\n", ok, ok, uidl, list, "+OK\r\nFrom: a\r\n\r\ncut"),
		script("+OK hi\r\n", "-ERR no\r\n", ok, ok, "+OK\r\n1 a\r\n1 a\r\n.\r\n", list, retr, ok),
		script("+OK hi\r\n", "-ERR no\r\n", ok, ok, uidl, "-ERR no LIST\r\n", "-ERR gone\r\n", retr, ok, ok),
		script("+OK hi\r\n", "-ERR no\r\n", ok, "-ERR [AUTH] no\r\n"),
		script("+OK hi\r\n", "-ERR no\r\n", ok, ok, "+OK\r\n"+strings.Repeat("x", 70000)),
		script("+OK hi\r\n", "-ERR no\r\n", ok, ok, uidl, list, "+OK\r\n"+strings.Repeat("..x\r\n", 1000)),
		script("+OK hi\r\n", "+OK\r\n  \r\nSASL\r\nUIDL\r\n.\r\n", ok, ok, uidl, list, retr),
	}
}

// FuzzPOP3Server does the same against a POP3 server.
func FuzzPOP3Server(f *testing.F) {
	for _, s := range pop3Seeds() {
		f.Add(s)
	}
	dir := testDirectory(f)
	f.Fuzz(func(t *testing.T, s []byte) {
		fuzzFetch(t, dir, "pop3", "delete", s)
	})
}

// mutate changes a script the way a fuzzer starts to: bytes replaced,
// cut short, or the tail of another script appended.
func mutate(r *rand.Rand, seeds [][]byte) []byte {
	s := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
	for k := r.IntN(4); k >= 0; k-- {
		switch r.IntN(3) {
		case 0:
			if len(s) > 0 {
				s[r.IntN(len(s))] = byte(r.IntN(256))
			}
		case 1:
			if len(s) > 1 {
				s = s[:r.IntN(len(s))]
			}
		default:
			if o := seeds[r.IntN(len(seeds))]; len(o) > 1 {
				s = append(s, o[r.IntN(len(o)):]...)
			}
		}
	}
	return s
}

// Without -fuzz, a fixed set of mutated scripts runs on every test run
// (the fuzz targets' own corpus grows only when someone fuzzes). EBB_FUZZ_N
// sets how many per protocol (default 100).
func TestServersSayingAnything(t *testing.T) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("EBB_FUZZ_N")); err == nil && v > 0 {
		n = v
	}
	dir := testDirectory(t)
	r := rand.New(rand.NewPCG(23, 42))
	is, ps := imapSeeds(), pop3Seeds()
	for i := 0; i < n; i++ {
		after := []string{"delete", "move"}[i%2]
		si, sp := mutate(r, is), mutate(r, ps)
		t.Run(fmt.Sprintf("imap%d", i), func(t *testing.T) { fuzzFetch(t, dir, "imap", after, si) })
		t.Run(fmt.Sprintf("pop3%d", i), func(t *testing.T) { fuzzFetch(t, dir, "pop3", "delete", sp) })
	}
}
