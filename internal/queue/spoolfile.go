package queue

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ebbmail/ebb/internal/safeio"
)

// The spool's files, in spool/queue/ (see the package comment):
//
//	<id>.q      the message: its data as received (Message.Size bytes), the
//	            envelope as received (JSON, as encodeMessage writes it) and
//	            a trailer naming the envelope's length and checksum
//	<id>.state  the envelope since it changed (an attempt deferred, a
//	            hold...): written only when it does, and it wins over the
//	            copy in <id>.q
//
// Before, a message was two files: <id>.msg (the data) and <id>.env (the
// envelope). A spool in that format is converted at start (convertOld).
const (
	msgExt   = ".q"
	stateExt = ".state"

	oldDataExt = ".msg"
	oldEnvExt  = ".env"
)

// The trailer: "#ebbq1 LLLLLLLLLL CCCCCCCC\n", the envelope's length in
// bytes (10 decimal digits) and its CRC-32C (8 hex digits). It is written
// last, with the envelope, in one write: a file without it is a receive
// that did not finish (never acknowledged); one with it whose envelope
// does not match is damaged.
const (
	trailerMagic = "#ebbq1 "
	trailerLen   = len(trailerMagic) + 10 + 1 + 8 + 1
)

// castagnoli is made on first use: every ebb process links the queue (the
// one-message ebb-deliver too), and making it at init cost each 0.2 ms.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// appendTrailer appends the trailer for the envelope env (already in b's
// tail or not: only env's bytes count).
func appendTrailer(b, env []byte) []byte {
	return fmt.Appendf(b, "%s%010d %08x\n", trailerMagic, len(env), crc32.Checksum(env, castagnoli()))
}

// errNoTrailer: the message file has no trailer, its receive never
// finished.
var errNoTrailer = errors.New("no envelope trailer: the receive did not finish")

// parseTrailer returns the envelope's length and checksum.
func parseTrailer(t []byte) (int64, uint32, error) {
	if len(t) != trailerLen || !bytes.HasPrefix(t, []byte(trailerMagic)) || t[trailerLen-1] != '\n' || t[trailerLen-10] != ' ' {
		return 0, 0, errNoTrailer
	}
	n, err := strconv.ParseInt(string(t[len(trailerMagic):len(trailerMagic)+10]), 10, 64)
	if err != nil {
		return 0, 0, errNoTrailer
	}
	c, err := strconv.ParseUint(string(t[trailerLen-9:trailerLen-1]), 16, 32)
	if err != nil {
		return 0, 0, errNoTrailer
	}
	return n, uint32(c), nil
}

// readMessageFile reads the envelope of the message file path (<id>.q).
// The error is errNoTrailer for a receive that did not finish, or says
// what is damaged.
func readMessageFile(path string) (*Message, error) {
	f, st, err := safeio.OpenStat(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := readMessageAt(f, st.Size())
	if err != nil {
		return nil, err
	}
	m.File = path
	return m, nil
}

// readMessageAt reads the envelope of a message file of size bytes.
func readMessageAt(f io.ReaderAt, size int64) (*Message, error) {
	if size < int64(trailerLen) {
		return nil, errNoTrailer
	}
	t := make([]byte, trailerLen)
	if _, err := f.ReadAt(t, size-int64(trailerLen)); err != nil {
		return nil, err
	}
	n, sum, err := parseTrailer(t)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > size-int64(trailerLen) {
		return nil, fmt.Errorf("message file: the trailer names an envelope of %d bytes in a file of %d", n, size)
	}
	env := make([]byte, n)
	if _, err := f.ReadAt(env, size-int64(trailerLen)-n); err != nil {
		return nil, err
	}
	if c := crc32.Checksum(env, castagnoli()); c != sum {
		return nil, fmt.Errorf("message file: the envelope's checksum is %08x, the trailer says %08x", c, sum)
	}
	m, err := DecodeMessage(env)
	if err != nil {
		return nil, err
	}
	if data := size - int64(trailerLen) - n; m.Size != data {
		return nil, fmt.Errorf("message file: %d bytes of data, the envelope says %d", data, m.Size)
	}
	return m, nil
}

// Data is the data of a queued message: the first Message.Size bytes of
// its spool file, which goes on with the envelope.
type Data struct {
	*io.SectionReader
	f *os.File
}

// Close closes the spool file.
func (d *Data) Close() error { return d.f.Close() }

// Name is the spool file's path.
func (d *Data) Name() string { return d.f.Name() }

// OpenData opens m's data for reading (and seeking: the relay reads it
// once per transaction). Every reader of a queued message's data goes
// through it: the spool file holds more than the data.
func (m *Message) OpenData() (*Data, error) {
	f, err := safeio.OpenFile(m.File, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return &Data{io.NewSectionReader(f, 0, m.Size), f}, nil
}

// spoolEntry is what the queue directory holds for one queue id.
type spoolEntry struct {
	id                      string
	msg, state              bool // <id>.q, <id>.state
	oldData, oldEnv         bool // <id>.msg, <id>.env (the format before)
	msgPath, statePath      string
	oldDataPath, oldEnvPath string
}

// scanSpool lists the queue directory dir by queue id (sorted), and the
// temporary files that a write in progress (or cut short) left.
func scanSpool(dir string) ([]*spoolEntry, []string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*spoolEntry{}
	var temps []string
	get := func(id string) *spoolEntry {
		e := byID[id]
		if e == nil {
			e = &spoolEntry{id: id,
				msgPath: filepath.Join(dir, id+msgExt), statePath: filepath.Join(dir, id+stateExt),
				oldDataPath: filepath.Join(dir, id+oldDataExt), oldEnvPath: filepath.Join(dir, id+oldEnvExt)}
			byID[id] = e
		}
		return e
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			temps = append(temps, filepath.Join(dir, name))
			continue
		}
		ext := filepath.Ext(name)
		id := strings.TrimSuffix(name, ext)
		if !ValidID(id) {
			continue // not ours (the control socket and lock live one level up)
		}
		switch ext {
		case msgExt:
			get(id).msg = true
		case stateExt:
			get(id).state = true
		case oldDataExt:
			get(id).oldData = true
		case oldEnvExt:
			get(id).oldEnv = true
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*spoolEntry, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, temps, nil
}

// entryKind is what a start (load) or mailq (List) makes of a spool entry.
type entryKind int

const (
	kindMessage    entryKind = iota // a queued message (m set)
	kindOld                         // a message in the format before (m set from <id>.env): to convert
	kindUnfinished                  // a receive that did not finish: never acknowledged, removed at start
	kindRemoved                     // what a removal cut short left (<id>.state alone): removed at start
	kindDamaged                     // unreadable: set aside at start (err says why)
)

// readEntry decides what e is, reading its envelope.
func readEntry(e *spoolEntry) (*Message, entryKind, error) {
	switch {
	case e.msg:
		m, err := readMessageFile(e.msgPath)
		if errors.Is(err, errNoTrailer) {
			if e.state {
				// An envelope was stored after an attempt: this was
				// acknowledged, and the data is damaged, not unfinished.
				return nil, kindDamaged, fmt.Errorf("%s: %w", filepath.Base(e.msgPath), err)
			}
			return nil, kindUnfinished, err
		}
		if err != nil {
			return nil, kindDamaged, fmt.Errorf("%s: %w", filepath.Base(e.msgPath), err)
		}
		if m.ID != e.id {
			return nil, kindDamaged, fmt.Errorf("%s: the envelope names id %s", filepath.Base(e.msgPath), m.ID)
		}
		if e.state {
			s, err := readEnvelopeFile(e.statePath)
			if errors.Is(err, fs.ErrNotExist) {
				return m, kindMessage, nil // removed while we read
			}
			if err != nil {
				return nil, kindDamaged, fmt.Errorf("%s: %w", filepath.Base(e.statePath), err)
			}
			if s.ID != e.id || s.Size != m.Size {
				return nil, kindDamaged, fmt.Errorf("%s: names id %s of %d bytes, the message file %s of %d", filepath.Base(e.statePath), s.ID, s.Size, m.ID, m.Size)
			}
			s.File, s.state = m.File, true
			m = s
		}
		return m, kindMessage, nil
	case e.oldEnv && e.oldData:
		m, err := readEnvelopeFile(e.oldEnvPath)
		if err != nil {
			return nil, kindDamaged, fmt.Errorf("%s: %w", filepath.Base(e.oldEnvPath), err)
		}
		if m.ID != e.id {
			return nil, kindDamaged, fmt.Errorf("envelope names id %s", m.ID)
		}
		m.File = e.oldDataPath // the data file: the data alone
		return m, kindOld, nil
	case e.oldEnv:
		return nil, kindDamaged, errors.New("the data file is missing")
	case e.oldData:
		return nil, kindUnfinished, errors.New("data without an envelope")
	default: // e.state alone
		return nil, kindRemoved, nil
	}
}

// readEnvelopeFile reads an envelope on its own (<id>.state, or <id>.env
// of the format before).
func readEnvelopeFile(path string) (*Message, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(b)
}

// convertOld rewrites a message of the format before (<id>.msg holding the
// data, <id>.env the envelope m) as <id>.q: the envelope and the trailer
// are appended to the data file, which is fsynced and renamed, the
// directory fsynced, and only then the old envelope removed. Each step can
// be repeated after a crash: a data file longer than the envelope's size
// is cut back to it first, and an <id>.env beside an <id>.q is a leftover.
func (q *Queue) convertOld(e *spoolEntry, m *Message) error {
	f, err := safeio.OpenFile(e.oldDataPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if st.Size() < m.Size {
		f.Close()
		return fmt.Errorf("%s holds %d bytes, its envelope says %d", e.oldDataPath, st.Size(), m.Size)
	}
	if st.Size() > m.Size {
		if err := f.Truncate(m.Size); err != nil {
			f.Close()
			return err
		}
	}
	m.File = e.msgPath
	env, err := encodeMessage(m)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(appendTrailer(env, env), m.Size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return &os.PathError{Op: "fsync", Path: e.oldDataPath, Err: err}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(e.oldDataPath, e.msgPath); err != nil {
		return err
	}
	if err := safeio.SyncDir(q.dir); err != nil {
		return err
	}
	if err := os.Remove(e.oldEnvPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
