package queue

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The seed's story replayed for ebb explain (issue 15): bob's Maildir is
// not writable by the mail user, ten messages to him are deferred while
// one to carol is delivered. explain tells a deferred one's story with the
// path, errno, uid and fix, as mailq does; after the fix and a flush the
// story ends with the delivery: the file written and as which uid. An
// address query lists every message to or from it with its outcome.
func TestExplainTheSeedStory(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	box := e.Maildir("bob")
	e.RootOwnedMaildir(box) // the seed's story: the daemon user cannot write it
	e.Start()

	var ids []string
	for i := range 10 {
		f := filepath.Join(e.Dir, fmt.Sprintf("m%d.eml", i))
		harness.WriteMessage(t, f, fmt.Sprintf("tide %d", i), 300+i*1000)
		if i == 0 {
			b, _ := os.ReadFile(f)
			os.WriteFile(f, append([]byte("Message-ID: <tide0@example.org>\r\n"), b...), 0o644)
		}
		r := e.Swaks("bob@example.test", f)
		m := queuedAs.FindStringSubmatch(r.Stdout)
		if r.Code != 0 || m == nil {
			t.Fatalf("swaks: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		ids = append(ids, m[1])
	}
	f := filepath.Join(e.Dir, "carol.eml")
	harness.WriteMessage(t, f, "to carol", 500)
	if r := e.Swaks("carol@example.test", f); r.Code != 0 {
		t.Fatalf("swaks carol: %s", r.Stdout)
	}
	e.WaitFor("ten deferred, one delivered", func() bool {
		_, q := e.Mailq()
		return q.Summary.ByState["deferred"] == 10 && len(e.Delivered("carol")) == 1
	})

	tmp := filepath.Join(box, "tmp")
	story := e.Ebb("explain", "-c", e.Conf, ids[3])
	if story.Code != 0 {
		t.Fatalf("explain: exit %d: %s%s", story.Code, story.Stdout, story.Stderr)
	}
	for _, want := range []string{
		ids[3] + "  received from <alice@example.org> for <bob@example.test>",
		`subject "tide 3"`,
		"deferred for <bob@example.test> (local, attempt 1",
		"cannot create a file in " + tmp + ": permission denied",
		fmt.Sprintf("running as uid %d %s", e.User.UID, e.User.Name),
		"Fix: ",
		"now in the queue:",
	} {
		if !strings.Contains(story.Stdout, want) {
			t.Errorf("explain lacks %q:\n%s", want, story.Stdout)
		}
	}
	// The queued message's summary counts it (issue 21: it ended
	// "-- 0 messages, 0 recipients:").
	if strings.Contains(story.Stdout, "-- 0 messages") || !strings.Contains(story.Stdout, "-- 1 message, 1 recipient: 1 deferred") {
		t.Errorf("explain's summary of the queued message:\n%s", story.Stdout)
	}
	// The same words as mailq's.
	text, _ := e.Mailq()
	reason := fmt.Sprintf("cannot create a file in %s: permission denied (running as uid %d %s; the directory is root:root 0755", tmp, e.User.UID, e.User.Name)
	if !strings.Contains(text, reason) || !strings.Contains(story.Stdout, reason) {
		t.Errorf("mailq and explain do not share the reason %q", reason)
	}

	// The fix, the flush: the story ends with the delivery.
	harness.Chown(t, box, e.User)
	if r := e.Ebb("queue", "flush", "-c", e.Conf); r.Code != 0 {
		t.Fatalf("flush: %s", r.Stderr)
	}
	e.WaitFor("all delivered", func() bool { return len(e.Delivered("bob")) == 10 })
	e.WaitFor("queue empty", func() bool {
		text, _ := e.Mailq()
		return strings.TrimSpace(text) == "Mail queue is empty"
	})
	story = e.Ebb("explain", "-c", e.Conf, ids[3])
	lines := strings.Split(strings.TrimSpace(story.Stdout), "\n")
	var delivered string
	for _, l := range lines {
		if strings.Contains(l, "delivered to <bob@example.test>") {
			delivered = l
		}
	}
	if delivered == "" || !strings.Contains(delivered, "attempt 2") || !strings.Contains(delivered, filepath.Join(box, "new")+"/") ||
		!strings.Contains(delivered, fmt.Sprintf("as uid %d", e.User.UID)) {
		t.Errorf("the story does not end with the delivery (file, uid):\n%s", story.Stdout)
	}
	if !strings.Contains(lines[len(lines)-1], "left the queue: nothing more to do") {
		t.Errorf("last line: %q", lines[len(lines)-1])
	}
	// The file named is the one in the Maildir.
	found := false
	for _, p := range e.Delivered("bob") {
		if strings.Contains(delivered, p) {
			found = true
		}
	}
	if !found {
		t.Errorf("the delivered file named is not in bob's new/: %s", delivered)
	}

	// By Message-ID (swaks makes one), and as JSON.
	js := e.Ebb("explain", "-c", e.Conf, "--json", ids[0])
	var recs []struct {
		Event string `json:"ev"`
		MsgID string `json:"msgid"`
	}
	if err := json.Unmarshal([]byte(js.Stdout), &recs); err != nil || len(recs) < 4 {
		t.Fatalf("--json: %v\n%s", err, js.Stdout)
	}
	if recs[0].Event != "received" || recs[0].MsgID != "<tide0@example.org>" {
		t.Fatalf("first record %+v", recs[0])
	}
	byID := e.Ebb("explain", "-c", e.Conf, recs[0].MsgID)
	if byID.Code != 0 || !strings.Contains(byID.Stdout, ids[0]+"  received") {
		t.Errorf("explain by Message-ID %s: %s%s", recs[0].MsgID, byID.Stdout, byID.Stderr)
	}

	// An address: each message to or from it with its outcome.
	addr := e.Ebb("explain", "-c", e.Conf, "--since", "1h", "bob@example.test")
	if n := strings.Count(addr.Stdout, "<bob@example.test> delivered"); n != 10 {
		t.Errorf("explain bob@example.test lists %d delivered messages, want 10:\n%s", n, addr.Stdout)
	}
	if strings.Contains(addr.Stdout, "to carol") {
		t.Errorf("carol's message listed for bob:\n%s", addr.Stdout)
	}
	// Nothing known: a clear answer and exit 66.
	none := e.Ebb("explain", "-c", e.Conf, "nobody@example.test")
	if none.Code != 66 || !strings.Contains(none.Stdout, "nothing in the journal") {
		t.Errorf("unknown address: exit %d %s", none.Code, none.Stdout)
	}
}
