package fetch

import (
	"context"
	"io"
	"slices"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"github.com/ebbmail/ebb/internal/fetchstate"
)

// pool holds what was taken from a folder under an earlier UIDVALIDITY,
// by digest (and, for rows from before schema version 3, by the old hash
// of Message-ID, Date and size): a multiset, so that two messages with
// the same content are two, and a third is new.
type pool struct {
	byDigest map[string][]fetchstate.FetchedMessage
	byHash   map[string][]fetchstate.FetchedMessage
	sizes    map[int64]bool
	anySize  bool // a row without a size (from before schema 3): every message is a candidate
}

func newPool(old []fetchstate.FetchedMessage, current map[string]fetchstate.FetchedMessage) *pool {
	p := &pool{byDigest: map[string][]fetchstate.FetchedMessage{}, byHash: map[string][]fetchstate.FetchedMessage{}, sizes: map[int64]bool{}}
	for _, m := range old {
		switch {
		case m.Digest != "":
			p.byDigest[m.Digest] = append(p.byDigest[m.Digest], m)
			p.sizes[m.Size] = true
		case m.Hash != "":
			p.byHash[m.Hash] = append(p.byHash[m.Hash], m)
			p.anySize = true
		}
	}
	// What this refetch already matched (a pass cut short) is taken out.
	for _, m := range current {
		if m.Digest != "" {
			p.take(m.Digest, "")
		}
	}
	return p
}

func (p *pool) empty() bool { return len(p.byDigest) == 0 && len(p.byHash) == 0 }

// take removes one earlier message with the digest (or else the old hash)
// and returns it.
func (p *pool) take(digest, hash string) (fetchstate.FetchedMessage, bool) {
	for _, by := range []struct {
		m   map[string][]fetchstate.FetchedMessage
		key string
	}{{p.byDigest, digest}, {p.byHash, hash}} {
		if by.key == "" {
			continue
		}
		if l := by.m[by.key]; len(l) > 0 {
			by.m[by.key] = l[1:]
			if len(l) == 1 {
				delete(by.m, by.key)
			}
			return l[0], true
		}
	}
	return fetchstate.FetchedMessage{}, false
}

// imapRefetch applies the refetch rule after a UIDVALIDITY change: a
// message whose content was taken before (its digest; messages without
// Message-ID or Date are told apart too) is recorded under its new UID in
// the state it had, without being queued again; the others are returned
// to be fetched. Only a message whose size matches an earlier one is read
// (into a hash, memory flat).
func (f *Fetcher) imapRefetch(ctx context.Context, ic *imapConn, folder string, uv uint32, todo []imap.UID,
	old []fetchstate.FetchedMessage, current map[string]fetchstate.FetchedMessage, res *Result) ([]imap.UID, error) {
	a := ic.account
	p := newPool(old, current)
	if p.empty() {
		return todo, nil
	}
	var keep []imap.UID
	for start := 0; start < len(todo); start += 512 {
		part := todo[start:min(start+512, len(todo))]
		infos, err := f.imapInfo(ic, part)
		if err != nil {
			return nil, err
		}
		var candidates []imap.UID
		for _, u := range part {
			in, ok := infos[u]
			switch {
			case !ok:
				// expunged since the search
			case p.anySize || p.sizes[in.size]:
				candidates = append(candidates, u)
			default:
				keep = append(keep, u)
			}
		}
		known, err := f.imapDigests(ic, candidates)
		if err != nil {
			return nil, err
		}
		for _, u := range candidates {
			d, ok := known[u]
			if !ok {
				// No body now: fetched as new if the server has it; if not,
				// left unrecorded (the position stays below it).
				keep = append(keep, u)
				continue
			}
			was, match := p.take(d.digest, d.hash)
			if !match {
				keep = append(keep, u)
				continue
			}
			m := fetchstate.FetchedMessage{Folder: folder, UIDValidity: uv, UID: strconv.FormatUint(uint64(u), 10),
				Digest: d.digest, Size: d.size, QueueID: was.QueueID, State: was.State, Summary: was.Summary,
				Reason: was.Reason, Ref: was.Ref, Notified: true, Removed: a.After == "keep"}
			if m.State == fetchstate.FetchRetry {
				keep = append(keep, u) // asked for again: fetched as new
				continue
			}
			if err := f.Store.RecordFetched(ctx, a.Name, m); err != nil {
				return nil, fail(CauseLocal, "record a message as taken before", err, nil)
			}
			res.Known++
		}
	}
	slices.Sort(keep)
	return keep, nil
}

type contentID struct {
	digest, hash string
	size         int64
}

// imapDigests reads the bodies of uids into their digests (and old
// hashes), keeping nothing of them.
func (f *Fetcher) imapDigests(ic *imapConn, uids []imap.UID) (map[imap.UID]contentID, error) {
	out := map[imap.UID]contentID{}
	if len(uids) == 0 {
		return out, nil
	}
	err := ic.fetchEach(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}},
		func(uid imap.UID, lit imap.LiteralReader) error {
			t := newTap(&kickReader{r: lit, dog: ic.dog}, 0, lit.Size())
			if _, err := io.Copy(io.Discard, t); err != nil {
				ic.c.Close() // see stepper.abort
				return ic.explain(err)
			}
			out[uid] = contentID{digest: t.digest(), hash: messageHash(t.head, t.n), size: t.n}
			return nil
		}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}
