package resolve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/cdb"
	"github.com/ebbmail/ebb/internal/safeio"
)

// The delivery map: the rows of a SQLite directory that resolution reads
// (domains, aliases, mailboxes without their password hashes) in a cdb file
// beside the database, which the directory rewrites after every change it
// makes (directory.Directory.RefreshMap). A delivery agent resolves from it
// with a few reads and no SQLite, as Postfix's local delivery reads a
// postmap'd table.
//
// Stale maps are never used. The map records the state of the database's
// files when it was written: device, inode, size, modification and change
// times of the database and of its -wal file (a writer commits to the WAL,
// a checkpoint to the database). A reader compares them with the files'
// now (two stat calls): any difference is a write the map may not have
// seen — sqlite3 or another program changing the database, a write ebb
// made that was not a directory change (fetch state, a password rehash), a
// checkpoint — and the reader takes the database instead (ebb-deliver
// hands the delivery to ebb deliver, which rewrites the map).
//
// Keys (cdb allows any bytes): "d\x00DOMAIN" → the domain it is an alias
// of, or "" for a hosted domain; "a\x00KEY" → the alias's destinations,
// sorted, NUL-separated; "m\x00KEY" → a mailbox, NUL-separated (address,
// quota bytes, quota messages, enabled 0/1, Maildir); "\x00first" → the
// first hosted domain; "\x00stamp" → the state of the database's files.

// mapVersion is the map's format, first field of its stamp.
const mapVersion = "ebbmap1"

// MapPath is the delivery map of the SQLite directory db: db + ".map".
func MapPath(db string) string { return db + ".map" }

// FileState is what a stat of one of the database's files said.
type FileState struct {
	Exists       bool
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds
}

// Stamp is the state of a SQLite database's files: the database and its
// write-ahead log.
type Stamp struct{ DB, WAL FileState }

// StampOf stats the database db and db-wal.
func StampOf(db string) (Stamp, error) {
	var s Stamp
	for _, f := range []struct {
		path string
		to   *FileState
	}{{db, &s.DB}, {db + "-wal", &s.WAL}} {
		var st syscall.Stat_t
		err := syscall.Stat(f.path, &st)
		if errors.Is(err, syscall.ENOENT) {
			continue
		}
		if err != nil {
			return s, &fs.PathError{Op: "stat", Path: f.path, Err: err}
		}
		*f.to = FileState{Exists: true, Dev: st.Dev, Ino: st.Ino, Size: st.Size,
			Mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec, Ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec}
	}
	if !s.DB.Exists {
		return s, &fs.PathError{Op: "stat", Path: db, Err: syscall.ENOENT}
	}
	return s, nil
}

func (s Stamp) encode() []byte {
	var b strings.Builder
	b.WriteString(mapVersion)
	for _, f := range []FileState{s.DB, s.WAL} {
		e := 0
		if f.Exists {
			e = 1
		}
		fmt.Fprintf(&b, " %d %d %d %d %d %d", e, f.Dev, f.Ino, f.Size, f.Mtime, f.Ctime)
	}
	return []byte(b.String())
}

// MapRows is what a map is written from.
type MapRows struct {
	// Domains: name → the domain it is an alias of ("" for a hosted one).
	Domains map[string]string
	// First is the first hosted domain (FirstDomain).
	First string
	// Aliases: lookup key → destinations.
	Aliases map[string][]string
	// Mailboxes: lookup key → mailbox (its PasswordHash is not written).
	Mailboxes map[string]*Mailbox
}

// WriteMap writes the map of rows, taken when the database's files were in
// state stamp, to path: safeio's temporary file, fsync and rename, so that
// a reader sees the old map or the new one. uid and gid (-1: unchanged)
// and perm are given to the file: the database's own, whose readers read
// the map.
func WriteMap(path string, stamp Stamp, rows *MapRows, perm fs.FileMode, uid, gid int) error {
	b := cdb.NewBuilder()
	b.Add([]byte("\x00stamp"), stamp.encode())
	b.Add([]byte("\x00first"), []byte(rows.First))
	for name, aliasOf := range rows.Domains {
		b.Add([]byte("d\x00"+name), []byte(aliasOf))
	}
	for key, dests := range rows.Aliases {
		b.Add([]byte("a\x00"+key), []byte(strings.Join(dests, "\x00")))
	}
	for key, mb := range rows.Mailboxes {
		en := "0"
		if mb.Enabled {
			en = "1"
		}
		b.Add([]byte("m\x00"+key), []byte(strings.Join([]string{mb.Address,
			strconv.FormatInt(mb.QuotaBytes, 10), strconv.FormatInt(mb.QuotaMessages, 10), en, mb.Maildir}, "\x00")))
	}
	db, err := b.Bytes()
	if err != nil {
		return err
	}
	return safeio.WriteFileOwned(path, db, perm, uid, gid)
}

// Map is an open delivery map. It is a Resolver, and reads a mailbox past
// any cache (Mailbox), as the delivery's quota check asks.
type Map struct {
	f    *os.File
	r    *cdb.Reader
	opt  Options
	path string
}

// OpenMap opens the map at path.
func OpenMap(path string, opt Options) (*Map, error) {
	f, st, err := safeio.OpenStat(path)
	if err != nil {
		return nil, err
	}
	r, err := cdb.NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Map{f: f, r: r, opt: opt, path: path}, nil
}

// Close closes the map's file.
func (m *Map) Close() error { return m.f.Close() }

// Path is the map's file.
func (m *Map) Path() string { return m.path }

// Stale returns nil when the map was written from the database db as its
// files are now, else why not (for a log line).
func (m *Map) Stale(db string) error {
	v, ok, err := m.r.Get([]byte("\x00stamp"))
	if err != nil {
		return err
	}
	if !ok || !strings.HasPrefix(string(v), mapVersion+" ") {
		return fmt.Errorf("%s: not a map of this ebb's format", m.path)
	}
	now, err := StampOf(db)
	if err != nil {
		return err
	}
	if string(now.encode()) != string(v) {
		return fmt.Errorf("%s was written before the last change of %s or its -wal", m.path, db)
	}
	return nil
}

func (m *Map) get(key string) (string, bool, error) {
	v, ok, err := m.r.Get([]byte(key))
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", m.path, err)
	}
	return string(v), ok, nil
}

// Fetch implements Source.
func (m *Map) Fetch(ctx context.Context, domain string, keys [3]string) (Domain, map[string]*Entry, error) {
	var di Domain
	aliasOf, hosted, err := m.get("d\x00" + domain)
	if err != nil {
		return di, nil, err
	}
	if hosted {
		di = Domain{Hosted: true, Canonical: domain}
		if aliasOf != "" {
			di.Canonical = aliasOf
		}
	}
	ents := map[string]*Entry{}
	for i, k := range keys {
		if i > 0 && (k == keys[0] || k == keys[i-1]) {
			continue // no subaddress: the base is the address
		}
		e := &Entry{}
		dests, ok, err := m.get("a\x00" + k)
		if err != nil {
			return di, nil, err
		}
		if ok && dests != "" {
			e.Dests = strings.Split(dests, "\x00")
		}
		if e.Mailbox, err = m.mailbox(k); err != nil {
			return di, nil, err
		}
		if e.Dests != nil || e.Mailbox != nil {
			ents[k] = e
		}
	}
	return di, ents, nil
}

func (m *Map) mailbox(key string) (*Mailbox, error) {
	v, ok, err := m.get("m\x00" + key)
	if err != nil || !ok {
		return nil, err
	}
	f := strings.Split(v, "\x00")
	if len(f) != 5 {
		return nil, fmt.Errorf("%s: the mailbox %q has %d fields", m.path, key, len(f))
	}
	mb := &Mailbox{Address: f[0], Enabled: f[3] == "1", Maildir: f[4]}
	if mb.QuotaBytes, err = strconv.ParseInt(f[1], 10, 64); err == nil {
		mb.QuotaMessages, err = strconv.ParseInt(f[2], 10, 64)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the mailbox %q: %w", m.path, key, err)
	}
	return mb, nil
}

// FirstDomain implements Source.
func (m *Map) FirstDomain(ctx context.Context) (string, error) {
	v, _, err := m.get("\x00first")
	return v, err
}

// Resolve implements Resolver, with the one implementation (Resolve).
func (m *Map) Resolve(ctx context.Context, address string) (*Resolution, error) {
	return Resolve(ctx, m, m.opt, address)
}

// IsLocalDomain implements Resolver.
func (m *Map) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	name, err := NormalizeDomain(domain)
	if err != nil {
		return false, nil
	}
	_, ok, err := m.get("d\x00" + name)
	return ok, err
}

// ErrNoMailbox is Mailbox's error for an address without a mailbox.
var ErrNoMailbox = errors.New("no such mailbox")

// Mailbox reads address's mailbox (a domain alias replaced by its target,
// as the directory's Mailbox does).
func (m *Map) Mailbox(ctx context.Context, address string) (*Mailbox, error) {
	local, dom, err := SplitAddress(address)
	if err != nil {
		return nil, err
	}
	aliasOf, ok, err := m.get("d\x00" + dom)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", address, ErrNoMailbox)
	}
	if aliasOf != "" {
		dom = aliasOf
	}
	mb, err := m.mailbox(LookupKey(local, dom))
	if err == nil && mb == nil {
		err = fmt.Errorf("%s: %w", address, ErrNoMailbox)
	}
	return mb, err
}

// RestampMap gives the map at path the stamp of the database db's files
// now, its rows unchanged: for a writer that knew the map matched the
// database and then changed the files without changing a row (closing the
// last connection checkpoints the WAL into the database and removes it;
// root gives the files to the mail user).
func RestampMap(path, db string) error {
	m, err := OpenMap(path, Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.f.Stat()
	if err != nil {
		return err
	}
	stamp, err := StampOf(db)
	if err != nil {
		return err
	}
	b := cdb.NewBuilder()
	b.Add([]byte("\x00stamp"), stamp.encode())
	if err := m.r.ForEach(func(k, v []byte) error {
		if string(k) != "\x00stamp" {
			b.Add(k, v)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out, err := b.Bytes()
	if err != nil {
		return err
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	uid, gid := -1, -1
	if sys != nil {
		uid, gid = int(sys.Uid), int(sys.Gid)
	}
	return safeio.WriteFileOwned(path, out, st.Mode().Perm(), uid, gid)
}
