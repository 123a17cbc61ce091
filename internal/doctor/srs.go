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
		e.SetFix(diag.Steps(diag.Command("chmod", "0600", path)))
		return []Finding{Failed(name, e)}
	}
	if u := env.Probe.As; u != nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != u.UID {
			e := diag.New("open", "read the SRS secret", path, syscall.EACCES)
			e.Found, e.Setting = diag.Describe(path), setting
			e.Who = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
			// ebb's own secret, given to the mail user alone (mode 0600);
			// a new secret would refuse bounces signed with this one.
			e.SetFix(diag.Steps(diag.Command("chown", u.Name+":"+diag.GroupName(u.GID), path), diag.Command("chmod", "0600", path)))
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
		e.SetFix(diag.Because("ebb serve writes a random secret there when there is no file", diag.Command("rm", path), diag.Restart(setting)))
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, path, fmt.Sprintf("%s, readable by its owner only", diag.Count(n, "secret")))}
}
