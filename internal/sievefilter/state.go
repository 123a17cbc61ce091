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

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/safeio"
	"github.com/ebbmail/ebb/internal/sieve"
)

// State is where the vacation and duplicate records of every mailbox are
// kept: files under server.data_dir (FileState: one host), or a database
// every host shares (internal/cluster), so that a sender is answered once
// and a duplicate is found whichever host delivers. now is the filter's
// clock; a record counts while now is before its end.
type State interface {
	// Answered reports whether mailbox answered sender under handle and
	// that record has not ended.
	Answered(ctx context.Context, mailbox, handle, sender string, now time.Time) (bool, error)
	// ClaimAnswer records that mailbox answers sender under handle until
	// now+period, unless a record that has not ended is there already:
	// it reports whether this caller made the record, and so is the one
	// to send the response (of two hosts delivering at once, one).
	ClaimAnswer(ctx context.Context, mailbox, handle, sender string, period time.Duration, now time.Time) (bool, error)
	// Unclaim drops a claim whose response could not be sent, so that
	// the next message from sender is answered.
	Unclaim(ctx context.Context, mailbox, handle, sender string) error
	// Seen reports whether mailbox stored a message with id under handle
	// and that record has not ended.
	Seen(ctx context.Context, mailbox, handle, id string, now time.Time) (bool, error)
	// Remember records the duplicate ids of a message mailbox stored.
	Remember(ctx context.Context, mailbox string, marks []sieve.DuplicateMark, now time.Time) error
	// Where names the store in messages: a directory, or the database.
	Where(mailbox string) string
}

// FileState is the State of one host: one small file per record under
// sieve.vacation_dir and sieve.duplicate_dir, in a folder per mailbox,
// named by a hash of the record's key and holding the Unix time until
// which it counts. One file per key needs no locking between the processes
// (ebb deliver runs, the daemon's workers) that deliver to one mailbox at
// once.
type FileState struct {
	VacationDir  string // sieve.vacation_dir with {data_dir} expanded
	DuplicateDir string // sieve.duplicate_dir with {data_dir} expanded
}

// NewFileState is the FileState of cfg.
func NewFileState(cfg *config.Config) *FileState {
	expand := func(t string) string {
		return filepath.Clean(strings.ReplaceAll(t, "{data_dir}", cfg.Server.DataDir))
	}
	return &FileState{VacationDir: expand(cfg.Sieve.VacationStateDir), DuplicateDir: expand(cfg.Sieve.DuplicateDir)}
}

func mailboxDir(base, mailbox string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(mailbox)))
	return filepath.Join(base, hex.EncodeToString(sum[:12]))
}

func recordFile(dir string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return filepath.Join(dir, hex.EncodeToString(sum[:16]))
}

// live reports whether the record file exists and has not ended.
func live(path string, now time.Time) (bool, error) {
	b, err := os.ReadFile(path)
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
	return now.Unix() < until, nil
}

func write(path string, until time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return safeio.WriteFile(path, []byte(strconv.FormatInt(until.Unix(), 10)+"\n"), 0o600)
}

func (s *FileState) vacationFile(mailbox, handle, sender string) string {
	return recordFile(mailboxDir(s.VacationDir, mailbox), "vacation", handle, strings.ToLower(sender))
}

func (s *FileState) Answered(_ context.Context, mailbox, handle, sender string, now time.Time) (bool, error) {
	return live(s.vacationFile(mailbox, handle, sender), now)
}

// ClaimAnswer looks and writes: between two processes of one host
// delivering to one mailbox at once, both may answer (as before; the
// database's claim is one statement).
func (s *FileState) ClaimAnswer(ctx context.Context, mailbox, handle, sender string, period time.Duration, now time.Time) (bool, error) {
	p := s.vacationFile(mailbox, handle, sender)
	if ok, err := live(p, now); err != nil || ok {
		return false, err
	}
	return true, write(p, now.Add(period))
}

func (s *FileState) Unclaim(_ context.Context, mailbox, handle, sender string) error {
	err := os.Remove(s.vacationFile(mailbox, handle, sender))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *FileState) Seen(_ context.Context, mailbox, handle, id string, now time.Time) (bool, error) {
	return live(recordFile(mailboxDir(s.DuplicateDir, mailbox), "duplicate", handle, id), now)
}

func (s *FileState) Remember(_ context.Context, mailbox string, marks []sieve.DuplicateMark, now time.Time) error {
	for _, m := range marks {
		if err := write(recordFile(mailboxDir(s.DuplicateDir, mailbox), "duplicate", m.Handle, m.ID), now.Add(m.Period)); err != nil {
			return err
		}
	}
	return nil
}

func (s *FileState) Where(mailbox string) string { return mailboxDir(s.DuplicateDir, mailbox) }

// userState is one delivery's view of State for one mailbox: the
// interpreter's sieve.VacationStore and sieve.DuplicateTracker.
type userState struct {
	st      State
	mailbox string
	now     time.Time
}

func (u *userState) Answered(ctx context.Context, handle, sender string, _ time.Duration) (bool, error) {
	return u.st.Answered(ctx, u.mailbox, handle, sender, u.now)
}

// Seen only looks; the ids a run marks (Result.DuplicateMarks) are
// remembered once the message is stored (deliver.Decision.Delivered), as
// RFC 7352 §3 asks: a delivery that fails and is retried must not count
// as a duplicate of itself, or a script that discards duplicates would
// lose it.
func (u *userState) Seen(ctx context.Context, handle, id string, _ time.Duration) (bool, error) {
	return u.st.Seen(ctx, u.mailbox, handle, id, u.now)
}
