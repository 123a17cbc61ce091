package fetch

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/servetest"
)

// fakePOP3 is a scripted POP3 server (RFC 1939 with CAPA, UIDL, TOP and
// PIPELINING): DELE takes effect at QUIT only, as the RFC says, and
// cutAt makes it drop the connection in the middle of a RETR.
type fakePOP3 struct {
	ln net.Listener

	mu    sync.Mutex
	msgs  []popFake
	cutAt string // the UIDL whose RETR is cut off
	log   []string
}

type popFake struct{ uidl, body string }

func newFakePOP3(t testing.TB) *fakePOP3 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakePOP3{ln: ln}
	servetest.Accept(t, ln, s.session)
	return s
}

func (s *fakePOP3) uidls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.uidl)
	}
	return out
}

func (s *fakePOP3) session(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(f string, a ...any) { fmt.Fprintf(w, f+"\r\n", a...) }
	say("+OK fake POP3")
	w.Flush()
	s.mu.Lock()
	msgs := append([]popFake(nil), s.msgs...)
	s.mu.Unlock()
	dele := map[int]bool{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.log = append(s.log, line)
		cut := s.cutAt
		s.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(strings.Fields(arg + " x")[0])
		switch strings.ToUpper(verb) {
		case "CAPA":
			say("+OK\r\nUIDL\r\nTOP\r\nPIPELINING\r\nUSER\r\n.")
		case "USER", "NOOP":
			say("+OK")
		case "PASS":
			if arg == "wrong" {
				say("-ERR [AUTH] Authentication failed.")
			} else {
				say("+OK logged in")
			}
		case "UIDL":
			say("+OK")
			for i, m := range msgs {
				say("%d %s", i+1, m.uidl)
			}
			say(".")
		case "LIST":
			say("+OK")
			for i, m := range msgs {
				say("%d %d", i+1, len(m.body))
			}
			say(".")
		case "RETR", "TOP":
			if n < 1 || n > len(msgs) || dele[n] {
				say("-ERR no such message")
				break
			}
			m := msgs[n-1]
			body := m.body
			if strings.ToUpper(verb) == "TOP" {
				body = headerOf(body)
			}
			say("+OK")
			if m.uidl == cut && strings.ToUpper(verb) == "RETR" {
				w.WriteString(body[:len(body)/2])
				w.Flush()
				return
			}
			for _, l := range strings.SplitAfter(body, "\r\n") {
				if strings.HasPrefix(l, ".") {
					l = "." + l
				}
				w.WriteString(l)
			}
			say(".")
		case "DELE":
			dele[n] = true
			say("+OK")
		case "QUIT":
			s.mu.Lock()
			var keep []popFake
			for _, m := range s.msgs {
				gone := false
				for i := range dele {
					if i >= 1 && i <= len(msgs) && msgs[i-1].uidl == m.uidl {
						gone = true
					}
				}
				if !gone {
					keep = append(keep, m)
				}
			}
			s.msgs = keep
			s.mu.Unlock()
			say("+OK bye")
			w.Flush()
			return
		default:
			say("-ERR unknown")
		}
		w.Flush()
	}
}

func popAccount(t testing.TB, dir *directory.Directory, name string, s *fakePOP3) *fetchstate.FetchAccount {
	t.Helper()
	host, port := s.ln.Addr().(*net.TCPAddr).IP.String(), s.ln.Addr().(*net.TCPAddr).Port
	a := fetchstate.FetchAccount{Name: name, Protocol: "pop3", Host: host, Port: port, TLS: "none", Username: "dave", Password: "pw",
		Auth: "password", Mailbox: "alice@example.test", After: "delete", Enabled: true, Folders: []string{"INBOX"}}
	if err := fetchstate.New(dir).AddFetchAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got, _ := fetchstate.New(dir).FetchAccount(context.Background(), name)
	return got
}

// POP3 with delete: DELE only for what the queue delivered; a refused
// message stays; a server dropping in the middle of a RETR deletes
// nothing (no QUIT), and the next session takes everything once; a UIDL
// listed twice is neither taken nor deleted.
func TestPOP3DeletesOnlyDelivered(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	s := newFakePOP3(t)
	s.mu.Lock() // the race detector sees no order through TCP
	s.msgs = []popFake{{"u1", msg(1, "")}, {"u2", msg(2, "X-Test: refuse\r\n")}, {"u3", msg(3, ".dot line\r\n")}, {"u4", msg(4, "")},
		{"dup", msg(5, "")}, {"dup", msg(6, "")}}
	s.cutAt = "u3"
	s.mu.Unlock()
	a := popAccount(t, dir, "p", s)
	f := testFetcher(dir, q)
	_, err := f.Once(context.Background(), a, nil)
	if err == nil || causeOf(err) != "" && asDiag(err, a).Op != CauseServer {
		t.Fatalf("cut RETR: %v", err)
	}
	if got := s.uidls(); len(got) != 6 {
		t.Fatalf("after the cut: %v on the server; want all 6 (no QUIT, no deletion)", got)
	}
	s.mu.Lock()
	s.cutAt = ""
	s.mu.Unlock()
	res, err := f.Once(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.uidls(); !slices.Equal(got, []string{"u2", "dup", "dup"}) {
		t.Fatalf("on the server: %v; want the refused u2 and the two dup", got)
	}
	if d := q.delivered(); len(d) != 3 || d["u1"] != 1 || d["u3"] != 1 || d["u4"] != 1 || res.Skipped != 1 {
		t.Fatalf("delivered %v, result %+v", d, res)
	}
	q.mu.Lock()
	for id, uid := range q.uids {
		if uid == "u3" && !strings.Contains(q.bodies[id], "\r\n.dot line\r\n") {
			t.Errorf("the dot-stuffed line came through as %q", q.bodies[id])
		}
	}
	q.mu.Unlock()
	if n := q.noticed(); len(n) != 1 || n[0].UID != "u2" || !strings.Contains(n[0].Summary, "message 2") {
		t.Fatalf("noticed %+v", n)
	}
}
