// Package safeio is the one place where ebb makes a file durable: write to a
// temporary name in the same directory, fsync the file, rename (or link) it
// into place, fsync the directory. After these steps a crash cannot lose the
// file nor leave half of it under the final name.
package safeio

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs a directory so that a rename or link into it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// WriteFile durably replaces path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, -1, -1, os.Rename)
}

// WriteFileOwned is WriteFile giving the file uid and gid (-1 leaves one
// as it is) before it takes path's name, so that nobody sees it with
// another owner.
func WriteFileOwned(path string, data []byte, perm os.FileMode, uid, gid int) error {
	return writeFile(path, data, perm, uid, gid, os.Rename)
}

// WriteNew durably writes data to path, which must not exist: the same
// temporary file, published by LinkNew, so that nothing there is ever
// replaced (an error wrapping fs.ErrExist says so).
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, -1, -1, LinkNew)
}

func writeFile(path string, data []byte, perm os.FileMode, uid, gid int, publish func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return &os.PathError{Op: "fsync", Path: tmp, Err: err}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := publish(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// LinkNew durably publishes src under dst without ever replacing an existing
// dst (link(2) fails with EEXIST), then removes src and fsyncs dst's directory.
// It is how a Maildir's tmp/ file enters new/ (maildir(5)).
func LinkNew(src, dst string) error {
	if err := os.Link(src, dst); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("remove %s after linking it to %s: %w", src, dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}
