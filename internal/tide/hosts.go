package tide

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

// Summary is a queue as the page shows it: the counts, why mail waits and
// the oldest messages. Each host of a cluster publishes its own
// (internal/cluster), so that every host's page shows every host's queue.
type Summary struct {
	At        time.Time `json:"at"`
	Messages  int       `json:"messages"`
	Held      int       `json:"held,omitempty"`
	Pending   int       `json:"pending"`
	Deferred  int       `json:"deferred"`
	Delivered uint64    `json:"delivered"`
	Deferrals uint64    `json:"deferrals"`
	Failed    uint64    `json:"failed"`
	Causes    []Cause   `json:"causes,omitempty"`
	Oldest    []Oldest  `json:"oldest,omitempty"`
	ListError string    `json:"list_error,omitempty"`
}

// Cause is one reason mail waits, with how many and the fix.
type Cause struct {
	Count  int    `json:"count"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Hint   string `json:"hint,omitempty"`
}

// Oldest is one of the oldest messages and what it waits for.
type Oldest struct {
	ID      string   `json:"id"`
	Age     string   `json:"age"`
	From    string   `json:"from"`
	Size    string   `json:"size"`
	Reason  string   `json:"reason,omitempty"`
	Waiting []string `json:"waiting,omitempty"`
}

// Summarize makes the summary of a queue from its stats and listing (err:
// the listing's failure).
func Summarize(st queue.Stats, l *queue.Listing, err error, now time.Time) Summary {
	s := Summary{At: now.UTC(), Messages: st.Messages, Held: st.Held, Pending: st.Depth[queue.Pending], Deferred: st.Depth[queue.Deferred],
		Delivered: st.Deliveries[queue.Delivered], Deferrals: st.Deliveries[queue.Deferred], Failed: st.Deliveries[queue.Failed]}
	if err != nil {
		s.ListError = diag.From(err, "ebb serve", "list").Sentence()
		return s
	}
	for _, g := range queue.Summarize(l).Reasons {
		s.Causes = append(s.Causes, Cause{Count: g.Count, State: string(g.State), Reason: g.Reason, Hint: g.Hint})
	}
	ms := append([]*queue.Message(nil), l.Messages...)
	sort.Slice(ms, func(i, k int) bool { return ms[i].Arrived.Before(ms[k].Arrived) })
	for i, m := range ms {
		if i == 10 {
			break
		}
		o := Oldest{ID: m.ID, Age: queue.FormatAge(m.Age(now)), From: m.From(), Size: diag.HumanBytes(uint64(m.Size))}
		for _, rc := range m.Recipients {
			if !rc.State.Final() {
				o.Waiting = append(o.Waiting, rc.Address)
				if rc.Error != nil && o.Reason == "" {
					o.Reason = rc.Error.Sentence()
				}
			}
		}
		s.Oldest = append(s.Oldest, o)
	}
	return s
}

// HostView is one host of the cluster on the page and in mailq.
type HostView struct {
	Name  string
	State string // "live, heard of 3s ago", "stopped at …", "gone: not heard of since …"
	Live  bool
	Self  bool // the host showing it
	Queue Summary
	Page  string // its own page's address, when it published one
}

// WriteHosts writes the other hosts' queues as mailq shows them after
// this host's own: each host's state and counts, why its mail waits (with
// the fix), and its oldest messages (ebb explain ID on any host tells
// their story). The summaries are what each host published at its last
// heartbeat.
func WriteHosts(w io.Writer, hosts []HostView) {
	var others []HostView
	for _, h := range hosts {
		if !h.Self {
			others = append(others, h)
		}
	}
	if len(others) == 0 {
		return
	}
	fmt.Fprintf(w, "\nThe other hosts' queues (as each published it at its last heartbeat):\n")
	for _, h := range others {
		q := h.Queue
		counts := "no messages"
		if q.Messages > 0 {
			counts = fmt.Sprintf("%d %s, %d deferred, %d pending", q.Messages, diag.Plural(q.Messages, "message"), q.Deferred, q.Pending)
			if q.Held > 0 {
				counts += fmt.Sprintf(", %d held", q.Held)
			}
		}
		fmt.Fprintf(w, "%s (%s): %s\n", h.Name, h.State, counts)
		if q.ListError != "" {
			fmt.Fprintf(w, "  its queue could not be listed: %s\n", q.ListError)
		}
		for _, c := range q.Causes {
			fmt.Fprintf(w, "  %d %s: %s\n", c.Count, c.State, c.Reason)
			if c.Hint != "" {
				fmt.Fprintf(w, "    fix: %s\n", c.Hint)
			}
		}
		for _, o := range q.Oldest {
			fmt.Fprintf(w, "  %s  %s  age %s  from <%s> waiting for %s\n", o.ID, o.Size, o.Age, o.From, strings.Join(o.Waiting, ", "))
		}
	}
}

// HostState says how a host stands, for HostView.State.
func HostState(live, stopped bool, seen, now time.Time) string {
	switch {
	case live:
		return fmt.Sprintf("live, heard of %s ago", now.Sub(seen).Round(time.Second))
	case stopped:
		return "stopped at " + seen.Local().Format("2006-01-02 15:04:05")
	}
	return "gone: not heard of since " + seen.Local().Format("2006-01-02 15:04:05")
}
