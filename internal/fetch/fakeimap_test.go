package fetch

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/servetest"
)

// fakeIMAP is a scripted IMAP server on loopback: a mailbox the test
// fills, the commands a fetcher sends (LOGIN, SELECT, UID SEARCH, UID
// FETCH, UID STORE, UID EXPUNGE, UID MOVE, IDLE, LOGOUT), and hooks that
// make it misbehave the ways real servers do: a body that is NIL, missing
// or cut short, a message expunged between the search and the fetch, an
// EXISTS sent with a tagged reply. Dovecot (test/) is the real thing;
// this is for what Dovecot cannot be made to do on cue.
type fakeIMAP struct {
	t    testing.TB
	ln   net.Listener
	caps string

	mu          sync.Mutex
	uidValidity uint32
	next        uint32
	msgs        []fakeMsg
	moved       map[string][]fakeMsg
	log         []string // the commands, as sent
	// body, when set, decides how a message's BODY[] is sent.
	body func(uid uint32) bodyMode
	// afterFetch, when set, runs before the tagged OK of a UID FETCH of
	// BODY[]; its text is sent before that OK (an EXISTS, say).
	afterFetch func(s *fakeIMAP) string
	// beforeFetch, when set, runs when a UID FETCH of BODY[] arrives
	// (another client expunging meanwhile).
	beforeFetch func(s *fakeIMAP)
	// idled is told each time a client enters IDLE.
	idled chan struct{}
	// push, when a value comes, sends an EXISTS to the client in IDLE.
	push chan struct{}
}

type fakeMsg struct {
	uid     uint32
	body    string
	deleted bool
	gone    bool // expunged by "another client": answers BODY[] NIL
}

type bodyMode int

const (
	bodyNormal bodyMode = iota
	bodyNIL             // BODY[] NIL
	bodyOmit            // no BODY[] item at all
	bodyEmpty           // BODY[] ""
	bodyCut             // a literal cut short, then the connection closes
)

func newFakeIMAP(t testing.TB) *fakeIMAP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeIMAP{t: t, ln: ln, caps: "IMAP4rev1 UIDPLUS MOVE IDLE", uidValidity: 7, next: 1, moved: map[string][]fakeMsg{},
		idled: make(chan struct{}, 16), push: make(chan struct{}, 16)}
	servetest.Accept(t, ln, s.session)
	return s
}

func (s *fakeIMAP) addr() (string, int) {
	a := s.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// add appends messages and returns their UIDs.
func (s *fakeIMAP) add(bodies ...string) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var uids []uint32
	for _, b := range bodies {
		s.msgs = append(s.msgs, fakeMsg{uid: s.next, body: b})
		uids = append(uids, s.next)
		s.next++
	}
	return uids
}

// with changes the server under its lock (the race detector sees no
// order through TCP).
func (s *fakeIMAP) with(fn func(s *fakeIMAP)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// remaining is the UIDs still in INBOX.
func (s *fakeIMAP) remaining() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint32
	for _, m := range s.msgs {
		out = append(out, m.uid)
	}
	return out
}

// expunge removes uid as another client would: this session still sees
// it, with BODY[] NIL (Dovecot's answer).
func (s *fakeIMAP) expungeOther(uid uint32) {
	for i := range s.msgs {
		if s.msgs[i].uid == uid {
			s.msgs[i].gone = true
		}
	}
}

func (s *fakeIMAP) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *fakeIMAP) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(f string, a ...any) { fmt.Fprintf(w, f+"\r\n", a...) }
	say("* OK fake ready")
	w.Flush()
	selected := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		tag, rest, _ := strings.Cut(line, " ")
		s.mu.Lock()
		s.log = append(s.log, rest)
		s.mu.Unlock()
		verb, args, _ := strings.Cut(rest, " ")
		verb = strings.ToUpper(verb)
		if verb == "UID" {
			v2, a2, _ := strings.Cut(args, " ")
			verb, args = "UID "+strings.ToUpper(v2), a2
		}
		switch verb {
		case "CAPABILITY":
			say("* CAPABILITY %s", s.caps)
			say("%s OK done", tag)
		case "LOGIN":
			if strings.Contains(args, "wrong") {
				say("%s NO [AUTHENTICATIONFAILED] Authentication failed.", tag)
			} else {
				say("%s OK [CAPABILITY %s] logged in", tag, s.caps)
			}
		case "SELECT", "EXAMINE":
			s.mu.Lock()
			say("* %d EXISTS", len(s.msgs))
			say("* OK [UIDVALIDITY %d] ok", s.uidValidity)
			say("* OK [UIDNEXT %d] ok", s.next)
			s.mu.Unlock()
			say("%s OK [READ-WRITE] selected", tag)
			selected = true
		case "UID SEARCH":
			set := args[strings.LastIndex(args, " ")+1:]
			s.mu.Lock()
			var hits []string
			for _, m := range s.msgs {
				if inSet(set, m.uid, s.next-1) {
					hits = append(hits, strconv.Itoa(int(m.uid)))
				}
			}
			s.mu.Unlock()
			say("* SEARCH %s", strings.Join(hits, " "))
			say("%s OK done", tag)
		case "UID FETCH":
			set, items, _ := strings.Cut(args, " ")
			wantBody := strings.Contains(items, "BODY.PEEK[]")
			if wantBody && s.beforeFetch != nil {
				s.mu.Lock()
				s.beforeFetch(s)
				s.mu.Unlock()
			}
			s.mu.Lock()
			var hits []fakeMsg
			seqs := map[uint32]int{}
			for i, m := range s.msgs {
				if inSet(set, m.uid, s.next-1) {
					hits = append(hits, m)
					seqs[m.uid] = i + 1
				}
			}
			body := s.body
			s.mu.Unlock()
			for _, m := range hits {
				mode := bodyNormal
				if body != nil && wantBody {
					mode = body(m.uid)
				}
				if m.gone && wantBody {
					mode = bodyNIL
				}
				switch {
				case !wantBody:
					hdr := headerOf(m.body)
					fmt.Fprintf(w, "* %d FETCH (UID %d RFC822.SIZE %d BODY[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)] {%d}\r\n%s)\r\n",
						seqs[m.uid], m.uid, len(m.body), len(hdr), hdr)
				case mode == bodyNIL:
					fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] NIL)\r\n", seqs[m.uid], m.uid)
				case mode == bodyOmit:
					fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS (\\Seen))\r\n", seqs[m.uid], m.uid)
				case mode == bodyEmpty:
					fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] \"\")\r\n", seqs[m.uid], m.uid)
				case mode == bodyCut:
					fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] {%d}\r\n%s", seqs[m.uid], m.uid, len(m.body), m.body[:len(m.body)/2])
					w.Flush()
					return
				default:
					fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n", seqs[m.uid], m.uid, len(m.body), m.body)
				}
			}
			if wantBody && s.afterFetch != nil {
				s.mu.Lock()
				extra := s.afterFetch(s)
				s.mu.Unlock()
				w.WriteString(extra)
			}
			say("%s OK done", tag)
		case "UID STORE":
			set, _, _ := strings.Cut(args, " ")
			s.mu.Lock()
			for i := range s.msgs {
				if inSet(set, s.msgs[i].uid, s.next-1) {
					s.msgs[i].deleted = true
				}
			}
			s.mu.Unlock()
			say("%s OK done", tag)
		case "UID EXPUNGE", "EXPUNGE":
			s.mu.Lock()
			// From the end, so that each sequence number is right when sent.
			for i := len(s.msgs) - 1; i >= 0; i-- {
				m := s.msgs[i]
				if m.deleted && (verb == "EXPUNGE" || inSet(args, m.uid, s.next-1)) {
					say("* %d EXPUNGE", i+1)
					s.msgs = append(s.msgs[:i], s.msgs[i+1:]...)
				}
			}
			s.mu.Unlock()
			say("%s OK done", tag)
		case "UID MOVE":
			set, folder, _ := strings.Cut(args, " ")
			folder = strings.Trim(folder, `"`)
			s.mu.Lock()
			var keep []fakeMsg
			for _, m := range s.msgs {
				if inSet(set, m.uid, s.next-1) {
					s.moved[folder] = append(s.moved[folder], m)
					continue
				}
				keep = append(keep, m)
			}
			s.msgs = keep
			s.mu.Unlock()
			say("%s OK done", tag)
		case "IDLE":
			say("+ idling")
			w.Flush()
			select {
			case s.idled <- struct{}{}:
			default:
			}
			done := make(chan string, 1)
			go func() {
				l, _ := r.ReadString('\n')
				done <- l
			}()
			select {
			case <-s.push:
				s.mu.Lock()
				say("* %d EXISTS", len(s.msgs))
				s.mu.Unlock()
				w.Flush()
				<-done
			case <-done:
			}
			say("%s OK idle done", tag)
		case "NOOP", "CHECK":
			say("%s OK done", tag)
		case "LIST":
			say("* LIST () \"/\" INBOX")
			say("%s OK done", tag)
		case "LOGOUT":
			say("* BYE bye")
			say("%s OK done", tag)
			w.Flush()
			return
		default:
			_ = selected
			say("%s BAD unknown command", tag)
		}
		w.Flush()
	}
}

// inSet reports whether uid is in an IMAP sequence set ("1:3,5,7:*").
func inSet(set string, uid, highest uint32) bool {
	num := func(s string) uint32 {
		if s == "*" {
			return highest
		}
		n, _ := strconv.ParseUint(s, 10, 32)
		return uint32(n)
	}
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a := num(lo)
		b := a
		if isRange {
			b = num(hi)
		}
		if a > b {
			a, b = b, a
		}
		if uid >= a && uid <= b {
			return true
		}
	}
	return false
}

func headerOf(body string) string {
	if i := strings.Index(body, "\r\n\r\n"); i >= 0 {
		return body[:i+4]
	}
	return body
}
