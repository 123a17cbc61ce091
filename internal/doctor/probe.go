package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/safeio"
)

// ProbeUser is the account probes run as.
type ProbeUser struct {
	Name     string
	UID, GID int
	// StandInFor is server.user when it does not exist and this account
	// (nobody) probes in its place (StandIn).
	StandInFor string
}

// Prober runs filesystem probes, as another user when As is set (which needs
// root): the ebb binary Exe is re-executed as `ebb doctor --probe` with that
// uid/gid and only its primary group, as an MTA's pipe transport runs an MDA.
type Prober struct {
	Exe string     // the ebb binary; "" = this executable
	As  *ProbeUser // nil: this process
}

// Who names the identity probes run as, for messages.
func (p *Prober) Who() string {
	if p.As != nil && p.As.StandInFor != "" {
		return fmt.Sprintf("uid %d %s (%s)", p.As.UID, p.As.Name, p.As.standInNote())
	}
	if p.As != nil {
		return fmt.Sprintf("uid %d %s", p.As.UID, p.As.Name)
	}
	return diag.Self().String()
}

// ProbeRequest is one directory to probe.
type ProbeRequest struct {
	Dir     string        `json:"dir"`
	Setting *diag.Setting `json:"setting,omitempty"`
}

// Dir probes one directory; nil means it passed.
func (p *Prober) Dir(ctx context.Context, dir string, setting *diag.Setting) *diag.Error {
	return p.Dirs(ctx, []ProbeRequest{{Dir: dir, Setting: setting}})[0]
}

// DirToBe probes dir, a directory the daemon creates at first use: when it
// is missing, its nearest existing parent is probed instead (probed says
// which). A parent that refuses is not the fix: the fix creates dir, and
// each missing directory above it, for the mail user (diag.MakeDir); the
// parent, which may be anyone's, is left as it is.
func (p *Prober) DirToBe(ctx context.Context, dir string, setting *diag.Setting) (e *diag.Error, probed string) {
	probed = filepath.Clean(dir)
	for {
		if _, err := os.Stat(probed); err == nil || probed == "/" {
			break
		}
		probed = filepath.Dir(probed)
	}
	e = p.Dir(ctx, probed, setting)
	if e != nil && probed != filepath.Clean(dir) && setting != nil && setting.User != "" &&
		(e.Errno == "EACCES" || e.Errno == "EPERM") && searchable(e, probed) {
		e.SetFix(diag.MakeDir(dir, setting.MailUser(), setting))
	}
	return e, probed
}

// searchable reports whether the user e was refused as may pass through
// probed, the directory that refused a new entry: then root's install -d
// of what is missing below it is the fix. When probed (or a directory
// above it) does not even let the user through, a directory made inside
// stays out of reach: the probe's own fix (the chown of that directory, or
// a directory of ebb's own instead of a shared one) stays.
func searchable(e *diag.Error, probed string) bool {
	f, who := e.Found, e.Who
	if f == nil || who == nil || f.Kind != "directory" || filepath.Clean(f.Path) != probed {
		return false
	}
	switch {
	case f.UID == who.UID:
		return f.Mode&0o100 != 0
	case f.GID == who.GID:
		return f.Mode&0o010 != 0
	}
	return f.Mode&0o001 != 0
}

// Dirs probes many directories in one child process; the result has one
// entry per request, nil for a pass.
func (p *Prober) Dirs(ctx context.Context, reqs []ProbeRequest) []*diag.Error {
	out := make([]*diag.Error, len(reqs))
	if len(reqs) == 0 {
		return out
	}
	if p == nil || p.As == nil || p.As.UID == os.Geteuid() {
		for i, r := range reqs {
			out[i] = ProbeDir(r.Dir, r.Setting)
		}
		return out
	}
	exe := p.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fill(out, probeRunErr(p, "", err))
		}
	}
	in, _ := json.Marshal(reqs)
	cmd := exec.CommandContext(ctx, exe, "doctor", "--probe")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(p.As.UID), Gid: uint32(p.As.GID), Groups: []uint32{}}}
	if err := cmd.Run(); err != nil {
		if stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		return fill(out, probeRunErr(p, exe, err))
	}
	var res []*diag.Error
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != len(reqs) {
		return fill(out, probeRunErr(p, exe, fmt.Errorf("unreadable answer from the probe: %v", err)))
	}
	return res
}

func fill(out []*diag.Error, e *diag.Error) []*diag.Error {
	for i := range out {
		out[i] = e
	}
	return out
}

func probeRunErr(p *Prober, exe string, err error) *diag.Error {
	e := diag.New("exec", "run the probe as "+p.As.Name+" with", exe, err)
	e.Component = "ebb doctor"
	e.Who = diag.Self()
	e.Found = diag.Describe(exe)
	e.Class = diag.Temporary
	e.Hint = fmt.Sprintf("install ebb where %s can execute it (e.g. /usr/local/bin, mode 0755)", p.As.Name)
	return e
}

// ServeProbes is the child side (`ebb doctor --probe`): a JSON list of
// requests on r, a JSON list of results (null for a pass) on w.
func ServeProbes(r io.Reader, w io.Writer) error {
	var reqs []ProbeRequest
	if err := json.NewDecoder(r).Decode(&reqs); err != nil {
		return err
	}
	res := make([]*diag.Error, len(reqs))
	for i, q := range reqs {
		res[i] = ProbeDir(q.Dir, q.Setting)
	}
	return json.NewEncoder(w).Encode(res)
}

// ProbeDir does in dir, as this process, what a delivery does: create a
// file (O_EXCL), write, fsync, rename, remove, fsync the directory. The
// probe file's name starts with "." so that Maildir readers ignore it.
func ProbeDir(dir string, setting *diag.Setting) *diag.Error {
	var rnd [6]byte
	rand.Read(rnd[:])
	name := filepath.Join(dir, fmt.Sprintf(".ebb-doctor-probe.%d.%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	fail := func(op, doing, path string, err error) *diag.Error {
		e := diag.PathError("ebb doctor", op, doing, path, err, setting)
		return e
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail("create", "create a file in", dir, err)
	}
	defer os.Remove(name)
	if _, err := f.Write(bytes.Repeat([]byte("x"), 4096)); err != nil {
		f.Close()
		return fail("write", "write", name, unwrap(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail("fsync", "fsync", name, err)
	}
	if err := f.Close(); err != nil {
		return fail("write", "write", name, unwrap(err))
	}
	renamed := name + ".renamed"
	if err := os.Rename(name, renamed); err != nil {
		return fail("rename", "rename a file in", dir, unwrap(err))
	}
	if err := os.Remove(renamed); err != nil {
		return fail("remove", "remove a file in", dir, unwrap(err))
	}
	if err := safeio.SyncDir(dir); err != nil {
		return fail("fsync", "fsync the directory", dir, unwrap(err))
	}
	return nil
}

func unwrap(err error) error {
	switch e := err.(type) {
	case *os.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}
