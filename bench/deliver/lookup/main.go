// Command lookup is the prototype bench/deliver/run.sh measured to choose
// how ebb-deliver finds a mailbox without linking SQLite (issue 28 item 3):
// each run is one process, started per message as an agent is, that only
// does the lookup and exits, so that its time over a Go no-op is what the
// mechanism costs a delivery.
//
//	lookup -make FILE -n 1000               # write a map of 1000 mailboxes in 10 domains
//	lookup -map FILE ADDRESS                # a cdb map: the reads a -d delivery needs
//	lookup -serve SOCKET                    # a daemon answering resolutions (one canned answer: its best case)
//	lookup -socket SOCKET ADDRESS           # ask it: connect, one JSON request, one JSON answer
//
// The map mode makes the lookups ebb-deliver makes through
// internal/resolve's map (the domain, then the address, its subaddress
// base and the catch-all, as alias and as mailbox); the socket mode what a
// request to the running daemon over a unix socket costs the client, the
// daemon's side being measured in its own cgroup.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/cdb"
)

type mailbox struct {
	Address string `json:"address"`
	Maildir string `json:"maildir"`
	Quota   int64  `json:"quota_bytes"`
	Enabled bool   `json:"enabled"`
}

func main() {
	mk := flag.String("make", "", "write a map here")
	n := flag.Int("n", 1000, "mailboxes in the map")
	mp := flag.String("map", "", "look up in this map")
	serve := flag.String("serve", "", "answer on this unix socket")
	sock := flag.String("socket", "", "ask the daemon on this unix socket")
	flag.Parse()
	switch {
	case *mk != "":
		check(makeMap(*mk, *n))
	case *mp != "":
		check(lookupMap(*mp, flag.Arg(0)))
	case *serve != "":
		check(serveSocket(*serve))
	case *sock != "":
		check(ask(*sock, flag.Arg(0)))
	default:
		fmt.Fprintln(os.Stderr, "usage: lookup -make FILE | -map FILE ADDRESS | -serve SOCKET | -socket SOCKET ADDRESS")
		os.Exit(64)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "lookup:", err)
		os.Exit(75)
	}
}

func makeMap(path string, n int) error {
	w := cdb.NewBuilder()
	for d := range 10 {
		w.Add([]byte(fmt.Sprintf("d\x00d%d.example", d)), nil)
	}
	for i := range n {
		a := fmt.Sprintf("user%d@d%d.example", i, i%10)
		w.Add([]byte("m\x00"+a), []byte(a+"\x00/var/vmail/"+a+"/Maildir\x001048576\x000\x001"))
		if i%5 == 0 {
			w.Add([]byte(fmt.Sprintf("a\x00alias%d@d%d.example", i, i%10)), []byte(a))
		}
	}
	b, err := w.Bytes()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func lookupMap(path, addr string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r, err := cdb.NewReader(f, st.Size())
	if err != nil {
		return err
	}
	local, domain, _ := strings.Cut(addr, "@")
	if _, ok, err := r.Get([]byte("d\x00" + domain)); err != nil || !ok {
		return fmt.Errorf("domain %s: %v", domain, err)
	}
	base, _, _ := strings.Cut(local, "+")
	var mb *mailbox
	for _, k := range []string{addr, base + "@" + domain, "@" + domain} {
		if _, _, err := r.Get([]byte("a\x00" + k)); err != nil {
			return err
		}
		v, ok, err := r.Get([]byte("m\x00" + k))
		if err != nil {
			return err
		}
		if ok && mb == nil {
			p := strings.Split(string(v), "\x00")
			mb = &mailbox{Address: p[0], Maildir: p[1]}
		}
	}
	if mb == nil {
		return fmt.Errorf("%s: unknown", addr)
	}
	return nil
}

func serveSocket(path string) error {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	answer, _ := json.Marshal(map[string]any{"mailboxes": []mailbox{{Address: "user1@d1.example", Maildir: "/var/vmail/user1@d1.example/Maildir", Quota: 1 << 20, Enabled: true}}})
	answer = append(answer, '\n')
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var req struct{ Op, Address string }
			if json.NewDecoder(bufio.NewReader(c)).Decode(&req) == nil {
				c.Write(answer)
			}
		}()
	}
}

func ask(path, addr string) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	b, _ := json.Marshal(map[string]string{"op": "resolve", "address": addr})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return err
	}
	var rep struct{ Mailboxes []mailbox }
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return err
	}
	if len(rep.Mailboxes) == 0 {
		return fmt.Errorf("%s: unknown", addr)
	}
	return nil
}
