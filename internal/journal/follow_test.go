package journal

import (
	"context"
	"strings"
	"testing"
	"time"
)

// memSource is a Source over records in memory.
type memSource []Record

func (m memSource) Read(_ context.Context, q Query) ([]Record, int, error) {
	return Select(m, q), 0, nil
}
func (m memSource) Where() string { return "memory" }

// Follow joins the hops of a message across hosts in both directions, and
// stops at a next hop outside (its queue id is not in the journal).
func TestFollowJoinsHops(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	src := memSource{
		{Time: at(0), Host: "mx1", Event: "received", QueueID: "A1", From: "a@x", To: []string{"b@y"}},
		{Time: at(1), Host: "mx1", Event: "delivered", QueueID: "A1", Rcpt: "b@y", NextID: "B2", Detail: "relayed to mx2 [10.0.0.2]: 250 2.0.0 Ok: queued as B2"},
		{Time: at(2), Host: "mx2", Event: "received", QueueID: "B2", From: "a@x", To: []string{"b@y"}},
		{Time: at(3), Host: "mx2", Event: "delivered", QueueID: "B2", Rcpt: "b@y", NextID: "OUTSIDE7", Detail: "relayed to mx.other [192.0.2.1]: 250 ok queued as OUTSIDE7"},
		{Time: at(4), Host: "mx1", Event: "received", QueueID: "C3", From: "z@x", To: []string{"q@y"}},
	}
	ctx := context.Background()
	for _, start := range []string{"A1", "B2"} {
		recs, _, _ := src.Read(ctx, Query{QueueID: start})
		recs, _, err := Follow(ctx, src, recs, time.Time{})
		if err != nil || len(recs) != 4 {
			t.Fatalf("from %s: %d records, %v; want the 4 of both hops", start, len(recs), err)
		}
		story := strings.Join(Story(recs, time.UTC), "\n")
		if !strings.Contains(story, "10:00:00  mx1  A1  received") || !strings.Contains(story, "10:00:03  mx2  B2  delivered") {
			t.Errorf("from %s:\n%s", start, story)
		}
	}
}
