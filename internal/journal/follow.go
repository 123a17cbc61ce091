package journal

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// isNotExist: a host's own journal folder that was never made (all its
// records went to the database) is no error beside another source.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// maxHops bounds Follow: no message passes more ebb hosts than this.
const maxHops = 16

// Follow extends a story across the hosts a message passed, in a journal
// several hosts write (docs/scaling.md: MX → delivery host, submission →
// relay): the record of a relay to another ebb host carries the queue id
// that host gave the message (NextID), so that id's records are added;
// and a message received from another ebb host has that host's record
// whose NextID is its queue id, so that message's records are added too.
// A NextID of an outside server (its own queue ids) finds nothing here
// and adds nothing.
func Follow(ctx context.Context, src Source, recs []Record, since time.Time) ([]Record, int, error) {
	seen := map[string]bool{}
	var out []Record
	add := func(rs []Record) {
		for _, r := range rs {
			k := recordKey(r)
			if !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	add(recs)
	asked := map[string]bool{} // "next "+id, "prev "+id
	skipped := 0
	for hop := 0; hop < maxHops; hop++ {
		var more []Record
		for _, r := range out {
			if r.NextID != "" && !asked["next "+r.NextID] {
				asked["next "+r.NextID] = true
				rs, n, err := src.Read(ctx, Query{QueueID: r.NextID, Since: since})
				if err != nil {
					return out, skipped, err
				}
				skipped += n
				if received(rs, r.NextID) {
					more = append(more, rs...)
				}
			}
			if r.Event == "received" && r.QueueID != "" && !asked["prev "+r.QueueID] {
				asked["prev "+r.QueueID] = true
				rs, n, err := src.Read(ctx, Query{NextID: r.QueueID, Since: since})
				if err != nil {
					return out, skipped, err
				}
				skipped += n
				more = append(more, rs...)
			}
		}
		before := len(out)
		add(more)
		if len(out) == before {
			break
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].Time.Before(out[k].Time) })
	return out, skipped, nil
}

// received reports whether rs hold the received record of queue id id: the
// next hop is a host of this journal, not an outside server.
func received(rs []Record, id string) bool {
	for _, r := range rs {
		if r.Event == "received" && r.QueueID == id {
			return true
		}
	}
	return false
}

// Unique drops the records that are there twice (two reads that found the
// same one), keeping the first.
func Unique(rs []Record) []Record {
	seen := map[string]bool{}
	out := rs[:0]
	for _, r := range rs {
		if k := recordKey(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// recordKey tells records apart when two reads return the same one.
func recordKey(r Record) string {
	return strconv.FormatInt(r.Time.UnixNano(), 36) + "\x00" + r.Host + "\x00" + r.QueueID + "\x00" + r.Event + "\x00" +
		r.Rcpt + "\x00" + r.Ref + "\x00" + r.Checker + "\x00" + r.Detail
}

// Sources reads several sources as one: the database several hosts share,
// and this host's own files, which keep what the database could not take.
type Sources []Source

func (ss Sources) Read(ctx context.Context, q Query) ([]Record, int, error) {
	var all []Record
	skipped := 0
	for _, s := range ss {
		rs, n, err := s.Read(ctx, q)
		if err != nil && !(len(ss) > 1 && isNotExist(err)) {
			return nil, skipped, err
		}
		skipped += n
		all = append(all, rs...)
	}
	all = Unique(all)
	sort.SliceStable(all, func(i, k int) bool { return all[i].Time.Before(all[k].Time) })
	return all, skipped, nil
}

func (ss Sources) Where() string {
	var w []string
	for _, s := range ss {
		w = append(w, s.Where())
	}
	return strings.Join(w, " and ")
}
