package cluster

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// ebb deliver's options in the whole binary: the SQL directory opens, and
// on one host (SQLite: no shared state) the vacation and duplicate state
// is the files' (a nil interface, not a typed nil); a directory that is
// not there is an error, not a nil directory.
func TestMDAOptions(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	o := MDAOptions()
	if d, err := o.Directory(ctx, cfg, nil); err == nil || d != nil {
		t.Fatalf("no directory yet: %v, %v", d, err)
	}
	w, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	d, err := o.Directory(ctx, cfg, nil)
	if err != nil || d == nil {
		t.Fatalf("open for delivery: %v", err)
	}
	defer d.(*directory.Directory).Close()
	if st, err := o.SieveState(ctx, cfg, d, nil); st != nil || err != nil {
		t.Errorf("one host: state %#v, %v; want nil (the files)", st, err)
	}
}
