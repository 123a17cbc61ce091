package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
)

// Maildir++ quota (Courier README.maildirquota): the top Maildir's
// "maildirsize" file. Line 1 is the limit ("10000000S,1000C"), every later
// line "<bytes> <count>", appended per delivery or removal. Dovecot's
// "maildir" quota backend reads and writes the same file.

// Quota is a limit; 0 means no limit on that dimension.
type Quota struct {
	Bytes, Messages int64
}

// IsZero reports whether there is no limit at all.
func (q Quota) IsZero() bool { return q.Bytes == 0 && q.Messages == 0 }

func (q Quota) String() string {
	var parts []string
	if q.Bytes > 0 {
		parts = append(parts, fmt.Sprintf("%dS", q.Bytes))
	}
	if q.Messages > 0 {
		parts = append(parts, fmt.Sprintf("%dC", q.Messages))
	}
	return strings.Join(parts, ",")
}

// Usage is what a Maildir holds.
type Usage struct {
	Bytes, Messages int64
}

// QuotaError says a delivery would exceed the quota.
type QuotaError struct {
	Dir   string
	Quota Quota
	Used  Usage
	Add   int64
}

func (e *QuotaError) Error() string {
	var limit []string
	if e.Quota.Bytes > 0 {
		limit = append(limit, fmt.Sprintf("%d bytes", e.Quota.Bytes))
	}
	if e.Quota.Messages > 0 {
		limit = append(limit, fmt.Sprintf("%d messages", e.Quota.Messages))
	}
	s := fmt.Sprintf("mailbox is over quota: %d bytes in %d messages used, limit %s, message of %d bytes",
		e.Used.Bytes, e.Used.Messages, strings.Join(limit, " or "), e.Add)
	if e.TooBig() {
		s += " (larger than the limit itself)"
	}
	return s
}

// TooBig reports whether the message alone is larger than the byte limit:
// no space freed in the mailbox can make room for it.
func (e *QuotaError) TooBig() bool { return e.Quota.Bytes > 0 && e.Add > e.Quota.Bytes }

const (
	quotaFile        = "maildirsize"
	quotaRecalcSize  = 5120             // Courier: recalculate a file this big
	quotaRecalcOlder = 15 * time.Minute // ... or over quota and this old
)

// ParseQuota parses the first line of maildirsize ("10000000S,1000C").
func ParseQuota(line string) (Quota, error) {
	var q Quota
	for _, p := range strings.Split(strings.TrimSpace(line), ",") {
		if p == "" {
			continue
		}
		n, err := strconv.ParseInt(p[:len(p)-1], 10, 64)
		if err != nil || n < 0 {
			return q, fmt.Errorf("bad quota %q in maildirsize", line)
		}
		switch p[len(p)-1] {
		case 'S':
			q.Bytes = n
		case 'C':
			q.Messages = n
		default:
			return q, fmt.Errorf("bad quota %q in maildirsize", line)
		}
	}
	return q, nil
}

type sizeFile struct {
	quota Quota
	used  Usage
	lines int
	size  int64
	mtime time.Time
}

func readSizeFile(path string) (*sizeFile, error) {
	f, st, err := safeio.OpenStat(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sf := &sizeFile{size: st.Size(), mtime: st.ModTime()}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if sf.quota, err = ParseQuota(line); err != nil {
				return nil, err
			}
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 2 {
			continue // a torn line from a crash: the recalculation fixes it
		}
		b, err1 := strconv.ParseInt(fs[0], 10, 64)
		c, err2 := strconv.ParseInt(fs[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		sf.used.Bytes += b
		sf.used.Messages += c
		sf.lines++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sf, nil
}

// Recalculate sums the messages of the Maildir top and all its folders
// except Trash (Courier's rule), preferring ",S=" from the names.
func Recalculate(top string) (Usage, error) {
	var u Usage
	dirs := []string{top}
	ents, err := os.ReadDir(top)
	if err != nil {
		return u, err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() && strings.HasPrefix(n, ".") && n != "." && n != ".." && n != ".Trash" && !strings.HasPrefix(n, ".Trash.") {
			dirs = append(dirs, filepath.Join(top, n))
		}
	}
	for _, d := range dirs {
		for _, sub := range []string{"new", "cur"} {
			ents, err := os.ReadDir(filepath.Join(d, sub))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return u, err
			}
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				size, ok := sizeFromName(e.Name())
				if !ok {
					info, err := e.Info()
					if err != nil {
						continue // removed meanwhile
					}
					size = info.Size()
				}
				u.Bytes += size
				u.Messages++
			}
		}
	}
	return u, nil
}

func sizeFromName(name string) (int64, bool) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	for _, f := range strings.Split(name, ",")[1:] {
		if strings.HasPrefix(f, "S=") {
			n, err := strconv.ParseInt(f[2:], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// CheckQuota reports whether a message of add bytes fits in the Maildir top
// when no directory decides its limit (ebb deliver --maildir): the
// maildirsize file's own limit wins; def applies when there is none. With
// no limit at all it does nothing (and creates no file). It returns a
// *QuotaError when the message does not fit.
func CheckQuota(top string, def Quota, add int64) error {
	_, err := decideQuota(top, def, false, add, true)
	return err
}

// EnforceQuota is CheckQuota for a mailbox whose limit the directory
// decides (its own quota, else mail.quota): want wins. When the file's
// definition line says otherwise (the quota was changed since the file
// was written), the file is rewritten with want and a fresh count, as
// Courier's deliverquota and Dovecot's maildir backend do, so that the
// change applies at this delivery; a mailbox already past the new limit
// takes nothing more.
func EnforceQuota(top string, want Quota, add int64) error {
	_, err := decideQuota(top, want, true, add, true)
	return err
}

// PlanQuota is what CheckQuota (enforce false) or EnforceQuota (true)
// would decide, without writing maildirsize: the limit, the usage
// (counted again from the folders where they would count), and the
// *QuotaError when add bytes do not fit. For ebb route.
func PlanQuota(top string, q Quota, enforce bool, add int64) (Quota, Usage, error) {
	sf, err := decideQuota(top, q, enforce, add, false)
	if sf == nil {
		return q, Usage{}, err
	}
	return sf.quota, sf.used, err
}

// decideQuota is CheckQuota's and EnforceQuota's one decision; write false
// counts where they would rewrite, and writes nothing.
func decideQuota(top string, q Quota, enforce bool, add int64, write bool) (*sizeFile, error) {
	path := filepath.Join(top, quotaFile)
	sf, err := readSizeFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if sf == nil && q.IsZero() {
		return nil, nil
	}
	if enforce && q.IsZero() {
		// No limit any more: no file, as for a mailbox that never had
		// one (nothing counts for a limit that is not there).
		if write {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		return nil, nil
	}
	recount := func(limit Quota) (*sizeFile, error) {
		if write {
			return rewriteSizeFile(top, limit)
		}
		u, err := Recalculate(top)
		if errors.Is(err, os.ErrNotExist) {
			err = nil // a Maildir still to be made (mail.create) is empty
		}
		return &sizeFile{quota: limit, used: u, lines: 1, mtime: time.Now()}, err
	}
	switch {
	case sf == nil:
		sf, err = recount(q)
	case enforce && sf.quota != q:
		// The directory's limit changed: the definition line follows it
		// (Maildir++: the delivery agent writes it).
		sf, err = recount(q)
	case sf.size >= quotaRecalcSize:
		sf, err = recount(sf.quota)
	}
	if err != nil {
		return nil, err
	}
	if over(sf.quota, sf.used, add) && (sf.lines > 1 || time.Since(sf.mtime) > quotaRecalcOlder) {
		// The sums may be stale (messages removed by a client that does
		// not update maildirsize): count again before refusing.
		if sf, err = recount(sf.quota); err != nil {
			return nil, err
		}
	}
	if over(sf.quota, sf.used, add) {
		return sf, &QuotaError{Dir: top, Quota: sf.quota, Used: sf.used, Add: add}
	}
	return sf, nil
}

func over(q Quota, u Usage, add int64) bool {
	return (q.Bytes > 0 && u.Bytes+add > q.Bytes) || (q.Messages > 0 && u.Messages+1 > q.Messages)
}

func rewriteSizeFile(top string, q Quota) (*sizeFile, error) {
	u, err := Recalculate(top)
	if err != nil {
		return nil, err
	}
	data := fmt.Sprintf("%s\n%d %d\n", q, u.Bytes, u.Messages)
	if err := safeio.WriteFile(filepath.Join(top, quotaFile), []byte(data), 0o600); err != nil {
		return nil, err
	}
	return &sizeFile{quota: q, used: u, lines: 1, size: int64(len(data)), mtime: time.Now()}, nil
}

// AddUsage appends "<bytes> <count>" to maildirsize after a delivery, when
// the Maildir has one. O_APPEND writes of one short line do not interleave.
func AddUsage(top string, bytes, count int64) error {
	f, err := safeio.OpenFile(filepath.Join(top, quotaFile), os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %d\n", bytes, count)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
