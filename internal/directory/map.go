package directory

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/ebbmail/ebb/internal/resolve"
)

// The delivery map (resolve.Map): the rows resolution reads, in a cdb file
// beside a SQLite database, so that ebb-deliver resolves without SQLite.
// This directory writes it after every change it makes (changed), when it
// is opened for writing and finds it missing or stale, and when ebb
// deliver asks (RefreshMap: ebb-deliver found it stale and handed the
// delivery over). A PostgreSQL directory has none: another host may change
// it at any time.

// ResolveOptions are the settings d resolves with (for a map of it).
func (d *Directory) ResolveOptions() resolve.Options { return resolve.OptionsOf(d.cfg) }

// MapPath is the delivery map of d, "" when it has none (PostgreSQL).
func (d *Directory) MapPath() string {
	if d.engine != SQLite {
		return ""
	}
	return resolve.MapPath(d.where)
}

// RefreshMap writes the delivery map when it is missing or stale.
func (d *Directory) RefreshMap(ctx context.Context) error {
	path := d.MapPath()
	if path == "" {
		return nil
	}
	d.mapMu.Lock()
	defer d.mapMu.Unlock()
	if m, err := resolve.OpenMap(path, resolve.Options{}); err == nil {
		stale := m.Stale(d.where)
		m.Close()
		if stale == nil {
			d.mapFresh = true
			return nil
		}
	}
	return d.writeMap(ctx)
}

// mapQuery reads every row the map holds in one statement, so from one
// snapshot: domains (0), aliases (1), mailboxes (2) and the first hosted
// domain (3).
const mapQuery = `SELECT 0, name, alias_of, 0, 0, 0, '' FROM domains
	UNION ALL
	SELECT 1, lookup, destination, 0, 0, 0, '' FROM aliases
	UNION ALL
	SELECT 2, lookup, address, quota_bytes, quota_messages, enabled, maildir FROM mailboxes
	UNION ALL
	SELECT 3, name, '', 0, 0, 0, '' FROM (SELECT name FROM domains WHERE alias_of = '' ORDER BY created, name LIMIT 1)`

// writeMap writes the map from the rows as they are now. d.mapMu is held.
func (d *Directory) writeMap(ctx context.Context) error {
	d.mapFresh = false
	path := d.MapPath()
	// The files' state before the rows: a write between the two makes the
	// map stale (the reader does not use it), never wrongly fresh.
	stamp, err := resolve.StampOf(d.where)
	if err != nil {
		return err
	}
	rows := &resolve.MapRows{Domains: map[string]string{}, Aliases: map[string][]string{}, Mailboxes: map[string]*resolve.Mailbox{}}
	rs, err := d.db.QueryContext(ctx, mapQuery)
	if err != nil {
		return d.dbError("read", err)
	}
	defer rs.Close()
	for rs.Next() {
		var kind, enabled int
		var key, val, maildir string
		var qb, qm int64
		if err := rs.Scan(&kind, &key, &val, &qb, &qm, &enabled, &maildir); err != nil {
			return d.dbError("read", err)
		}
		switch kind {
		case 0:
			rows.Domains[key] = val
		case 1:
			rows.Aliases[key] = append(rows.Aliases[key], val)
		case 2:
			rows.Mailboxes[key] = &resolve.Mailbox{Address: val, QuotaBytes: qb, QuotaMessages: qm, Enabled: enabled != 0, Maildir: maildir}
		case 3:
			rows.First = key
		}
	}
	if err := rs.Err(); err != nil {
		return d.dbError("read", err)
	}
	rs.Close()
	for _, ds := range rows.Aliases {
		slices.Sort(ds)
	}
	// The database's readers read the map: its mode and owner.
	var st syscall.Stat_t
	if err := syscall.Stat(d.where, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: d.where, Err: err}
	}
	if err := resolve.WriteMap(path, stamp, rows, fs.FileMode(st.Mode).Perm(), int(st.Uid), int(st.Gid)); err != nil {
		return d.fileError("write", "write the directory's delivery map", path, err)
	}
	d.mapFresh = true
	return nil
}

// mapChanged rewrites the map after a change made through d. A failure
// is logged, not returned: the change is made, and a stale map is not
// used (ebb-deliver hands deliveries to ebb deliver, which tries again).
func (d *Directory) mapChanged() {
	if d.MapPath() == "" {
		return
	}
	d.mapMu.Lock()
	defer d.mapMu.Unlock()
	if err := d.writeMap(context.Background()); err != nil {
		d.log.Warn("the directory changed, but its delivery map could not be rewritten: ebb-deliver hands each -d delivery to ebb deliver until it is",
			"map", d.MapPath(), "err", err)
	}
}

// mapBeforeClose reports whether the map matches the database just before
// d closes it; mapAfterClose then restamps it, since closing the last
// connection (a checkpoint, the -wal removed) and giving the files to
// their owner change the files but no row.
func (d *Directory) mapBeforeClose() bool {
	d.mapMu.Lock()
	defer d.mapMu.Unlock()
	if !d.mapFresh || d.readOnly || d.MapPath() == "" {
		return false
	}
	m, err := resolve.OpenMap(d.MapPath(), resolve.Options{})
	if err != nil {
		return false
	}
	defer m.Close()
	return m.Stale(d.where) == nil
}

func (d *Directory) mapAfterClose() {
	if err := resolve.RestampMap(d.MapPath(), d.where); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("cannot restamp the directory's delivery map after closing the database", "map", d.MapPath(), "err", err)
	}
}
