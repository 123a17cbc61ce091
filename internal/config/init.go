package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/safeio"
)

// WriteNew writes a starting config (every key at its default, as
// WriteDefaults prints it) to path, and refuses to overwrite anything there:
// a config someone edited (the package's conffile) is never replaced.
func WriteNew(path string) error {
	if path == "" {
		path = DefaultPath
	}
	var b bytes.Buffer
	WriteDefaults(&b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return diag.PathError("ebb config init", "mkdir", "create the directory of", filepath.Dir(path), diag.UnwrapPath(err), nil)
	}
	err := safeio.WriteNew(path, b.Bytes(), 0o644)
	if errors.Is(err, fs.ErrExist) {
		e := diag.New("create", "write a starting config to", path, errors.New("a config is there already, and ebb never overwrites one"))
		e.Component, e.Class, e.Exit = "ebb config init", diag.Permanent, diag.ExCantCreat
		e.Found = diag.Describe(path)
		return e.SetFix(diag.Because("keep it and edit it (ebb config defaults prints every key with its default)",
			diag.Command("ebb", "config", "check", "-c", path)))
	}
	if err != nil {
		return diag.PathError("ebb config init", "create", "write a starting config to", path, diag.UnwrapPath(err), nil)
	}
	return nil
}
