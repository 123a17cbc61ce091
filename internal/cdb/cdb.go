// Package cdb reads and writes constant databases in D. J. Bernstein's cdb
// format (https://cr.yp.to/cdb/cdb.txt), the format Postfix's cdb: maps and
// tinycdb use: a file written once, then looked up by key with a couple of
// reads, whatever its size, without reading or parsing the rest. ebb keeps
// the directory's delivery map in it (internal/resolve), so that a one-
// message delivery agent finds a mailbox without opening SQLite.
//
// Layout: a 2048-byte header of 256 (position, slots) pairs, one per hash
// table; the records (key length, data length, key, data); the 256 hash
// tables of (hash, record position) slots, each twice as long as the number
// of its records. Numbers are 32-bit little-endian; the hash is
// h = ((h << 5) + h) ^ c from 5381. A key may be stored more than once;
// Get returns the first.
//
// No module for it was available here; the format is small and fixed, and
// the tests check it against tinycdb's cdb(1).
package cdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const headerSize = 256 * 8

func hash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = ((h << 5) + h) ^ uint32(c)
	}
	return h
}

// Builder makes a cdb in memory: Add the records, then Bytes. (The
// databases ebb makes are a directory's rows: megabytes at most.)
type Builder struct {
	buf  []byte
	refs [256][]slot
	err  error
}

type slot struct{ h, pos uint32 }

// NewBuilder starts an empty cdb.
func NewBuilder() *Builder { return &Builder{buf: make([]byte, headerSize, 64<<10)} }

var errTooBig = errors.New("cdb: the database would pass 4 GiB")

// Add appends one record.
func (w *Builder) Add(key, data []byte) {
	if w.err != nil {
		return
	}
	pos := len(w.buf)
	if uint64(pos)+8+uint64(len(key))+uint64(len(data)) > math.MaxUint32 {
		w.err = errTooBig
		return
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(key)))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(data)))
	w.buf = append(w.buf, key...)
	w.buf = append(w.buf, data...)
	h := hash(key)
	w.refs[h&255] = append(w.refs[h&255], slot{h, uint32(pos)})
}

// Bytes appends the hash tables, fills in the header and returns the
// database.
func (w *Builder) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	for i, refs := range w.refs {
		n := uint32(len(refs) * 2)
		if uint64(len(w.buf))+uint64(n)*8 > math.MaxUint32 {
			return nil, errTooBig
		}
		binary.LittleEndian.PutUint32(w.buf[i*8:], uint32(len(w.buf)))
		binary.LittleEndian.PutUint32(w.buf[i*8+4:], n)
		if n == 0 {
			continue
		}
		table := make([]slot, n)
		for _, r := range refs {
			j := (r.h >> 8) % n
			for table[j].pos != 0 {
				j = (j + 1) % n
			}
			table[j] = r
		}
		for _, s := range table {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, s.h)
			w.buf = binary.LittleEndian.AppendUint32(w.buf, s.pos)
		}
	}
	w.err = errors.New("cdb: Bytes called twice")
	return w.buf, nil
}

// Reader looks keys up in a cdb.
type Reader struct {
	r      io.ReaderAt
	size   int64
	header [headerSize]byte
}

// NewReader reads the header of the cdb of size bytes in r.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	c := &Reader{r: r, size: size}
	if size < headerSize || size > math.MaxUint32 {
		return nil, fmt.Errorf("cdb: %d bytes is not a cdb", size)
	}
	if _, err := r.ReadAt(c.header[:], 0); err != nil {
		return nil, err
	}
	return c, nil
}

// ErrCorrupt is returned for a database whose tables point outside it.
var ErrCorrupt = errors.New("cdb: corrupt database")

// Get returns the data of the first record with key, and whether there is
// one.
func (c *Reader) Get(key []byte) ([]byte, bool, error) {
	h := hash(key)
	tpos := binary.LittleEndian.Uint32(c.header[(h&255)*8:])
	n := binary.LittleEndian.Uint32(c.header[(h&255)*8+4:])
	if n == 0 {
		return nil, false, nil
	}
	if int64(tpos)+int64(n)*8 > c.size {
		return nil, false, ErrCorrupt
	}
	var b [8]byte
	j := (h >> 8) % n
	for range n {
		if _, err := c.r.ReadAt(b[:], int64(tpos)+int64(j)*8); err != nil {
			return nil, false, err
		}
		sh, pos := binary.LittleEndian.Uint32(b[:4]), binary.LittleEndian.Uint32(b[4:])
		if pos == 0 {
			return nil, false, nil
		}
		if sh == h {
			if int64(pos)+8 > c.size {
				return nil, false, ErrCorrupt
			}
			if _, err := c.r.ReadAt(b[:], int64(pos)); err != nil {
				return nil, false, err
			}
			kl, dl := binary.LittleEndian.Uint32(b[:4]), binary.LittleEndian.Uint32(b[4:])
			if int64(pos)+8+int64(kl)+int64(dl) > c.size {
				return nil, false, ErrCorrupt
			}
			if int(kl) == len(key) {
				rec := make([]byte, int(kl)+int(dl))
				if _, err := c.r.ReadAt(rec, int64(pos)+8); err != nil {
					return nil, false, err
				}
				if string(rec[:kl]) == string(key) {
					return rec[kl:], true, nil
				}
			}
		}
		j = (j + 1) % n
	}
	return nil, false, nil
}

// ForEach calls fn with every record, in the order they were added. The
// slices are fn's only until it returns.
func (c *Reader) ForEach(fn func(key, data []byte) error) error {
	end := int64(binary.LittleEndian.Uint32(c.header[0:]))
	if end < headerSize || end > c.size {
		return ErrCorrupt
	}
	var b [8]byte
	for pos := int64(headerSize); pos < end; {
		if _, err := c.r.ReadAt(b[:], pos); err != nil {
			return err
		}
		kl, dl := int64(binary.LittleEndian.Uint32(b[:4])), int64(binary.LittleEndian.Uint32(b[4:]))
		if pos+8+kl+dl > end {
			return ErrCorrupt
		}
		rec := make([]byte, kl+dl)
		if _, err := c.r.ReadAt(rec, pos+8); err != nil {
			return err
		}
		if err := fn(rec[:kl], rec[kl:]); err != nil {
			return err
		}
		pos += 8 + kl + dl
	}
	return nil
}
