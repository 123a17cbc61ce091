package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
)

// Listing is what the spool holds, read from the files alone: it works
// whether the daemon runs or not (mailq).
type Listing struct {
	Spool    string     `json:"spool"`
	Messages []*Message `json:"messages"`
	// Incomplete counts message files without their envelope: receives
	// in progress, or left by a crash (never acknowledged; the next start
	// removes them).
	Incomplete int `json:"incomplete,omitempty"`
	// Damaged lists messages whose files cannot be read, with the
	// reason, including those set aside in spool/corrupt/.
	Damaged []Damaged `json:"damaged,omitempty"`
}

// Damaged is an unreadable message.
type Damaged struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// List reads the spool directory spool. Messages are sorted by arrival.
func List(spool string) (*Listing, error) {
	dir := filepath.Join(spool, QueueDir)
	ents, _, err := scanSpool(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(spool); serr == nil {
				return &Listing{Spool: spool}, nil
			}
		}
		return nil, readError(diag.PathError("ebb mailq", "readdir", "read the queue directory", dir, err, nil))
	}
	l := &Listing{Spool: spool}
	for _, se := range ents {
		m, kind, err := readEntry(se)
		switch kind {
		case kindUnfinished:
			l.Incomplete++
		case kindDamaged:
			if errors.Is(err, fs.ErrNotExist) {
				continue // delivered and removed while we read
			}
			if errors.Is(err, fs.ErrPermission) {
				var pe *fs.PathError
				path := dir
				if errors.As(err, &pe) {
					path = pe.Path
				}
				return nil, readError(diag.PathError("ebb mailq", "open", "read", path, err, nil))
			}
			l.Damaged = append(l.Damaged, Damaged{Path: filepath.Join(dir, se.id), Error: err.Error()})
		case kindMessage, kindOld:
			fillReasons(m)
			l.Messages = append(l.Messages, m)
		}
	}
	if cdes, err := os.ReadDir(filepath.Join(spool, CorruptDir)); err == nil {
		seen := map[string]bool{}
		for _, de := range cdes {
			ext := filepath.Ext(de.Name())
			id := strings.TrimSuffix(de.Name(), ext)
			if (ext == msgExt || ext == oldEnvExt) && !seen[id] {
				seen[id] = true
				l.Damaged = append(l.Damaged, Damaged{Path: filepath.Join(spool, CorruptDir, de.Name()), Error: "set aside at start: unreadable"})
			}
		}
	}
	sort.Slice(l.Messages, func(i, j int) bool {
		if !l.Messages[i].Arrived.Equal(l.Messages[j].Arrived) {
			return l.Messages[i].Arrived.Before(l.Messages[j].Arrived)
		}
		return l.Messages[i].ID < l.Messages[j].ID
	})
	return l, nil
}

// readError replaces the fix of a permission error: the spool is private to
// its owner on purpose, so the fix is to run as that user, not a chown.
func readError(e *diag.Error) *diag.Error {
	if e.Errno == "EACCES" || e.Errno == "EPERM" {
		owner := "the spool's owner (server.user)"
		if e.Found != nil && e.Found.Owner != "" {
			owner = e.Found.Owner + ", the spool's owner (server.user)"
		}
		e.SetFix(diag.Because("the spool is private to the daemon's user, so its access is not widened", diag.Say("run this as root or as "+owner)))
	}
	return e
}

// ReadMessage reads one queued message from the spool (for show).
func ReadMessage(spool, id string) (*Message, error) {
	id = strings.ToUpper(id)
	if !ValidID(id) {
		return nil, fmt.Errorf("%q is not a queue id", id)
	}
	dir := filepath.Join(spool, QueueDir)
	se := &spoolEntry{id: id}
	for _, f := range []struct {
		ext  string
		has  *bool
		path *string
	}{{msgExt, &se.msg, &se.msgPath}, {stateExt, &se.state, &se.statePath}, {oldDataExt, &se.oldData, &se.oldDataPath}, {oldEnvExt, &se.oldEnv, &se.oldEnvPath}} {
		*f.path = filepath.Join(dir, id+f.ext)
		if _, err := os.Lstat(*f.path); err == nil {
			*f.has = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	m, kind, err := readEntry(se)
	switch kind {
	case kindMessage, kindOld:
		fillReasons(m)
		return m, nil
	case kindDamaged:
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		return nil, err
	}
	return nil, fmt.Errorf("no message %s in the queue %s", id, dir)
}

func fillReasons(m *Message) {
	for _, r := range m.Recipients {
		r.Reason = ""
		if r.Error != nil {
			r.Reason = r.Error.Sentence()
		}
	}
}

// Summary counts a listing's recipients by state and groups the waiting
// ones by cause, so that a rising queue has one name.
type Summary struct {
	Messages   int           `json:"messages"`
	Held       int           `json:"held"`
	Recipients int           `json:"recipients"`
	ByState    map[State]int `json:"by_state"`
	Reasons    []ReasonGroup `json:"reasons,omitempty"`
}

// ReasonGroup is one cause shared by Count recipients in State.
type ReasonGroup struct {
	Count int    `json:"count"`
	State State  `json:"state"`
	Class string `json:"class"` // ReasonClass
	// Reason is the diag sentence with the parts that vary per recipient
	// (mailbox paths, addresses, reference ids) generalised.
	Reason string `json:"reason"`
	Hint   string `json:"hint,omitempty"`
	// Example is one full, unaltered sentence of the group.
	Example string `json:"example"`
}

// Summarize builds the summary of l.
func Summarize(l *Listing) Summary {
	s := Summary{ByState: map[State]int{}}
	groups := map[string]*ReasonGroup{}
	for _, m := range l.Messages {
		s.Messages++
		if m.Held {
			s.Held++
		}
		for _, r := range m.Recipients {
			s.Recipients++
			s.ByState[r.State]++
			if r.Error == nil || r.State == Delivered {
				continue
			}
			reason := GeneralReason(r.Error, r.Address)
			key := string(r.State) + "\x00" + reason
			g := groups[key]
			if g == nil {
				g = &ReasonGroup{
					State:   r.State,
					Class:   ReasonClass(r.Error),
					Reason:  reason,
					Hint:    generalise(r.Error.Hint, r.Address),
					Example: r.Error.Sentence(),
				}
				groups[key] = g
			}
			g.Count++
		}
	}
	for _, g := range groups {
		s.Reasons = append(s.Reasons, *g)
	}
	sort.Slice(s.Reasons, func(i, j int) bool {
		a, b := s.Reasons[i], s.Reasons[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Reason < b.Reason
	})
	return s
}

// GeneralReason is the short form of a recipient's error that recipients
// with the same cause share: "cannot create a file in
// /var/mail/{domain}/{local}/Maildir/tmp: permission denied". It leaves out
// what may differ per mailbox (who, found, hint) and generalises the path.
func GeneralReason(d *diag.Error, rcpt string) string {
	if s, ok := remoteReason(d, rcpt); ok {
		return s
	}
	path := ""
	if d.Path != "" {
		path = generalisePath(d.Path, rcpt)
	}
	return d.Head(path, generalise(d.Reason, rcpt))
}

// The patterns are compiled on first use, not at package init: every ebb
// process links this package, most never group reasons (issue 16).
var (
	refPattern    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(ref [A-Z2-7]{8}\)`) })
	digitsPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b[0-9A-Fa-f]*[0-9][0-9A-Fa-f]{5,}\b`) })
)

// generalise replaces the recipient's address and parts, reference ids and
// long numbers (queue ids of other servers, timestamps) in free text.
func generalise(s, rcpt string) string {
	if s == "" {
		return ""
	}
	s = refPattern().ReplaceAllString(s, "(ref …)")
	s = digitsPattern().ReplaceAllString(s, "…")
	if rcpt != "" {
		s = strings.ReplaceAll(s, rcpt, "{address}")
		local, domain, ok := envaddr.Split(rcpt)
		if ok {
			s = replaceSegments(s, local, domain)
		}
	}
	return s
}

// generalisePath turns a mailbox path into its template:
// /var/mail/example.test/bob/Maildir/tmp → /var/mail/{domain}/{local}/Maildir/tmp.
// When no path segment is the recipient's (an alias to another mailbox),
// the part before a Maildir is elided: …/Maildir/tmp.
func generalisePath(p, rcpt string) string {
	g := generalise(p, rcpt)
	if g != p {
		return g
	}
	if i := strings.Index(p, "/Maildir"); i > 0 {
		return "…" + p[i:]
	}
	return p
}

// replaceSegments replaces the segments equal to the recipient's domain
// anywhere ("{domain} publishes a null MX"), and those equal to its local
// part only inside paths (words holding a "/"), case-insensitively, whole
// segments only: a local part is often a word ("mail", "info", "now"), and
// a remote's "not taking mail now" is not about the mailbox mail@.
func replaceSegments(s, local, domain string) string {
	isSep := func(c byte) bool {
		return c == '/' || c == ':' || c == '"' || c == '\'' || c == '(' || c == ')' || c == ','
	}
	var b strings.Builder
	for i, word := range strings.Split(s, " ") {
		if i > 0 {
			b.WriteByte(' ')
		}
		inPath := strings.Contains(word, "/")
		start := 0
		flush := func(end int) {
			seg := word[start:end]
			switch {
			case seg != "" && strings.EqualFold(seg, domain):
				b.WriteString("{domain}")
			case inPath && seg != "" && strings.EqualFold(seg, local):
				b.WriteString("{local}")
			default:
				b.WriteString(seg)
			}
		}
		for j := 0; j < len(word); j++ {
			if isSep(word[j]) {
				flush(j)
				b.WriteByte(word[j])
				start = j + 1
			}
		}
		flush(len(word))
	}
	return b.String()
}

// Age is how long m has been queued at now.
func (m *Message) Age(now time.Time) time.Duration { return now.Sub(m.Arrived) }

// FormatAge renders a duration the way mailq shows ages: 40s, 5m3s, 2h5m, 3d4h.
func FormatAge(d time.Duration) string { return diag.HumanAge(d) }
