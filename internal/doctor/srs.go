package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
)

// srsChecks: with srs.enable, the secret file is readable by server.user
// and by nobody else, and holds a secret; when it is missing, its directory
// lets server.user create it (ebb serve does at start).
func srsChecks() []Check {
	return []Check{{Name: "srs.secret", Run: checkSRSSecret}}
}

func checkSRSSecret(ctx context.Context, env *Env) []Finding {
	const name = "srs.secret"
	cfg := env.Cfg
	if !cfg.SRS.Enable {
		return nil
	}
	path := strings.ReplaceAll(cfg.SRS.SecretFile, "{data_dir}", cfg.Server.DataDir)
	setting := cfg.Setting("srs.secret_file")
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(path)
		if e := env.Probe.Dir(ctx, dir, setting); e != nil {
			e.Doing = "create the SRS secret in"
			return []Finding{Failed(name, e)}
		}
		return []Finding{Passed(name, path, "missing; ebb serve creates it with a random secret ("+dir+" is writable by "+env.Probe.Who()+")")}
	}
	if err != nil {
		return []Finding{Failed(name, diag.PathError("ebb doctor", "stat", "read the SRS secret", path, err, setting))}
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		e := diag.New("open", "use the SRS secret", path, fmt.Errorf("the file is mode %04o: others can read the secret, and ebb serve refuses to start with it", m))
		e.Found, e.Setting = diag.Describe(path), setting
		e.Hint = "make it readable by its owner only (chmod 600 " + path + "), or remove it and ebb serve makes a new one (bounces to addresses signed with the old secret are then refused)"
		return []Finding{Failed(name, e)}
	}
	if u := env.Probe.As; u != nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != u.UID {
			e := diag.New("open", "read the SRS secret", path, syscall.EACCES)
			e.Found, e.Setting = diag.Describe(path), setting
			e.Who = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
			e.Hint = fmt.Sprintf("the secret must belong to %s (mode 0600): remove it and let ebb serve make a new one, or point srs.secret_file at a file %s owns", u.Name, u.Name)
			return []Finding{Failed(name, e)}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return []Finding{Failed(name, diag.PathError("ebb doctor", "open", "read the SRS secret", path, err, setting))}
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	if n == 0 {
		e := diag.New("read", "use the SRS secret", path, errors.New("the file holds no secret"))
		e.Setting = setting
		e.Hint = "remove the empty file: ebb serve then writes a random secret there"
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, path, fmt.Sprintf("%s, readable by its owner only", diag.Count(n, "secret")))}
}
