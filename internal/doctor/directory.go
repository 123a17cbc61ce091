package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// directoryChecks probe the directory database: for SQLite the file and its
// folder as the daemon user (WAL needs to create -wal and -shm files beside
// the database, so the folder must be writable, not just the file); for
// PostgreSQL the connection, the credentials and the schema version.
func directoryChecks() []Check {
	return []Check{{Name: "directory", Run: checkDirectory}}
}

func checkDirectory(ctx context.Context, env *Env) []Finding {
	const name = "directory"
	dsn := strings.TrimSpace(env.Cfg.Directory.DSN)
	var out []Finding
	if dsn == "" || strings.HasPrefix(dsn, "sqlite:") {
		path := filepath.Join(env.Cfg.Server.DataDir, "directory.db")
		setting := env.Cfg.Setting("server.data_dir")
		if dsn != "" {
			path = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
			setting = env.Cfg.Setting("directory.dsn")
		}
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); err != nil {
			e := diag.PathError("ebb doctor", "stat", "use the directory database folder", dir, err, setting)
			e.SetFix(diag.MakeDir(dir, setting.MailUser(), setting))
			return []Finding{Failed(name, e)}
		}
		if e := env.Probe.Dir(ctx, dir, setting); e != nil {
			e.Reason += " (SQLite must create the -wal and -shm files beside the database)"
			return []Finding{Failed(name, e)}
		}
		out = append(out, Passed(name, dir, "create, write, fsync, rename, remove as "+env.Probe.Who()))
		st, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			// The directory's own words for a missing database (doctor
			// creates nothing): its path, its setting, and the default's
			// database when the setting looks mistyped.
			_, oerr := directory.OpenWith(ctx, env.Cfg, directory.Options{ReadOnly: true, NoMigrate: true, Logger: env.Log})
			if e, ok := diag.As(oerr); ok {
				return append(out, Warned(name, e))
			}
		}
		if err != nil {
			return append(out, Failed(name, diag.PathError("ebb doctor", "stat", "use the directory database", path, err, setting)))
		}
		if st.Mode().Perm()&0o004 != 0 {
			e := diag.New("mode", "keep the password hashes private in", path, errors.New("every user can read the file"))
			e.Found = diag.Describe(path)
			e.Setting = setting
			e.SetFix(diag.Narrow(path, "o-rwx"))
			out = append(out, Warned(name, e))
		}
		if env.Probe.As != nil && !canReadWrite(st, env.Probe.As) {
			e := diag.New("open", "use the directory database", path, syscall.EACCES)
			e.Found = diag.Describe(path)
			e.Who = &diag.Identity{UID: env.Probe.As.UID, User: env.Probe.As.Name, GID: env.Probe.As.GID}
			e.Setting = setting
			e.SetFix(diag.Chown(path, setting.MailUser(), setting))
			return append(out, Failed(name, e))
		}
	}
	// Open without migrating: doctor looks, it does not change the schema.
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := directory.OpenWith(octx, env.Cfg, directory.Options{ReadOnly: true, NoMigrate: true, Logger: env.Log})
	if err != nil {
		return append(out, Failed(name, diag.From(err, "ebb doctor", "open")))
	}
	defer d.Close()
	v, err := d.CurrentVersion(octx)
	if err != nil {
		return append(out, Failed(name, diag.From(err, "ebb doctor", "open")))
	}
	want := directory.SchemaVersion()
	switch {
	case v > want:
		e := diag.New("migrate", "use the directory database", d.Where(),
			fmt.Errorf("the schema is at version %d, this ebb knows versions up to %d", v, want))
		e.Hint = "upgrade ebb to the version that migrated the database"
		return append(out, Failed(name, e))
	case v < want:
		e := diag.New("migrate", "use the directory database", d.Where(),
			fmt.Errorf("the schema is at version %d, this ebb uses version %d", v, want))
		e.SetFix(diag.Steps(diag.Command("ebb", "directory", "migrate", "-c", orDefault(env.Cfg.File))))
		return append(out, Warned(name, e))
	}
	doms, err := d.Domains(octx)
	if err != nil {
		return append(out, Failed(name, diag.From(err, "ebb doctor", "open")))
	}
	out = append(out, Passed(name, d.Where(), fmt.Sprintf("%s reachable, schema version %d, %s", d.Engine(), v, diag.Count(len(doms), "domain"))))
	return append(out, checkPostmasters(octx, env, d, doms)...)
}

// checkPostmasters warns about every hosted domain whose postmaster@
// reaches nobody: RFC 5321 §4.5.1 requires the address, and ebb refuses it
// at RCPT (550) when it leads nowhere.
func checkPostmasters(ctx context.Context, env *Env, d *directory.Directory, doms []directory.Domain) []Finding {
	var out []Finding
	for _, dom := range doms {
		if dom.AliasOf != "" {
			continue // its postmaster is the target domain's
		}
		addr := "postmaster@" + dom.Name
		res, err := d.Resolve(ctx, addr)
		if err != nil || !res.Unknown() {
			continue
		}
		e := diag.New("lookup", "deliver to", addr, errors.New("no mailbox or alias, and directory.postmaster does not lead anywhere: mail to it is refused (RFC 5321 4.5.1 requires it)"))
		e.Setting = env.Cfg.Setting("directory.postmaster")
		e.Hint = fmt.Sprintf("ebb alias add %s ADMIN@ADDRESS, or set directory.postmaster to the address that should get it", addr)
		out = append(out, Warned("directory.postmaster", e))
	}
	return out
}

// canReadWrite tells from the mode whether u may read and write the file.
func canReadWrite(st os.FileInfo, u *ProbeUser) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	m := st.Mode().Perm()
	switch {
	case int(sys.Uid) == u.UID:
		return m&0o600 == 0o600
	case int(sys.Gid) == u.GID:
		return m&0o060 == 0o060
	}
	return m&0o006 == 0o006
}
