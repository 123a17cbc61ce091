package sievefilter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
	"github.com/ebbmail/ebb/internal/sieve"
)

// stateStore remembers keys until a time: one small file per key under
// dir/<user>/, named by a hash of the key and holding the Unix time until
// which it counts. One file per key needs no locking between the processes
// (ebb deliver runs, the daemon's workers) that deliver to one user at once.
type stateStore struct {
	dir string // per user
	now func() time.Time
}

func userStateDir(base, user string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(user)))
	return filepath.Join(base, hex.EncodeToString(sum[:12]))
}

func (s *stateStore) file(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:16]))
}

// seen reports whether the key was remembered and has not expired.
func (s *stateStore) seen(parts ...string) (bool, error) {
	b, err := os.ReadFile(s.file(parts...))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	until, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// A damaged record counts as absent: answering once too often is
		// better than never again.
		return false, nil
	}
	return s.now().Unix() < until, nil
}

// remember records the key until now+period.
func (s *stateStore) remember(period time.Duration, parts ...string) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	until := s.now().Add(period).Unix()
	return safeio.WriteFile(s.file(parts...), []byte(strconv.FormatInt(until, 10)+"\n"), 0o600)
}

// vacationState is the sieve.VacationStore of one user.
type vacationState struct{ st stateStore }

func (v *vacationState) Answered(_ context.Context, handle, sender string, _ time.Duration) (bool, error) {
	return v.st.seen("vacation", handle, strings.ToLower(sender))
}

func (v *vacationState) record(handle, sender string, period time.Duration) error {
	return v.st.remember(period, "vacation", handle, strings.ToLower(sender))
}

// duplicateState is the sieve.DuplicateTracker of one user. Seen only looks;
// the ids a run marks (Result.DuplicateMarks) are remembered once the message
// is stored (deliver.Decision.Delivered), as RFC 7352 §3 asks: a delivery
// that fails and is retried must not count as a duplicate of itself, or a
// script that discards duplicates would lose it.
type duplicateState struct{ st stateStore }

func (d *duplicateState) Seen(_ context.Context, handle, id string, period time.Duration) (bool, error) {
	return d.st.seen("duplicate", handle, id)
}

// commit remembers the marks of a delivered message.
func (d *duplicateState) commit(marks []sieve.DuplicateMark) error {
	for _, m := range marks {
		if err := d.st.remember(m.Period, "duplicate", m.Handle, m.ID); err != nil {
			return err
		}
	}
	return nil
}
