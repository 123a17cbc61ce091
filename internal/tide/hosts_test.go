package tide

import (
	"strings"
	"testing"
)

// mailq's view of the other hosts: this host left out (mailq listed it in
// full), each other host's state, counts, causes with their fix, and its
// oldest messages by id.
func TestWriteHostsListsTheOthers(t *testing.T) {
	hosts := []HostView{
		{Name: "mx1.example.test", State: "live, heard of 2s ago", Live: true, Queue: Summary{Messages: 1, Deferred: 1,
			Causes: []Cause{{Count: 1, State: "deferred", Reason: "the delivery host does not accept connections", Hint: "start ebb serve there"}},
			Oldest: []Oldest{{ID: "HOV2O8WRCIBKVU7", Age: "3m", From: "alice@example.org", Size: "230 B", Waiting: []string{"bob@example.test"}}}}},
		{Name: "mx2.example.test", State: "live, heard of 1s ago", Live: true, Self: true, Queue: Summary{Messages: 7}},
		{Name: "mx3.example.test", State: "stopped at 2026-12-07 18:00:00"},
	}
	var b strings.Builder
	WriteHosts(&b, hosts)
	out := b.String()
	for _, want := range []string{
		"The other hosts' queues",
		"mx1.example.test (live, heard of 2s ago): 1 message, 1 deferred, 0 pending\n",
		"  1 deferred: the delivery host does not accept connections\n    fix: start ebb serve there\n",
		"  HOV2O8WRCIBKVU7  230 B  age 3m  from <alice@example.org> waiting for bob@example.test\n",
		"mx3.example.test (stopped at 2026-12-07 18:00:00): no messages\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mx2.example.test") {
		t.Errorf("lists this host, which mailq showed in full:\n%s", out)
	}
	b.Reset()
	WriteHosts(&b, hosts[1:2])
	if b.Len() != 0 {
		t.Errorf("only this host: wrote %q", b.String())
	}
}
