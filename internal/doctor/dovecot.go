package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dovecotconf"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// dovecotChecks look at Dovecot when it serves ebb's users (the snippet of
// `ebb dovecot config`, docs/dovecot.md): Dovecot's sql passdb/userdb on
// ebb's directory must be readable by the user Dovecot's auth worker runs
// as, and Dovecot must open the Maildirs as server.user, who owns them.
// Dovecot's configuration is read with its own parser (doveconf), so
// includes and defaults count as Dovecot sees them.
func dovecotChecks() []Check {
	return []Check{{Name: "dovecot", Run: checkDovecot}}
}

// doveconfView is what the checks need from `doveconf -n`.
type doveconfView struct {
	sqlArgs        []string // args of passdb/userdb blocks with driver = sql
	mailUID        string
	firstValid     int
	lastValid      int
	authWorkerUser string
}

func checkDovecot(ctx context.Context, env *Env) []Finding {
	const name = "dovecot"
	conf := env.Cfg.Doctor.DovecotConfig
	setting := env.Cfg.Setting("doctor.dovecot_config")
	if conf == "" {
		return nil
	}
	if _, err := os.Stat(conf); err != nil {
		return nil // no Dovecot here
	}
	doveconf, err := exec.LookPath("doveconf")
	if err != nil {
		return nil
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, doveconf, "-c", conf, "-n")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e := diag.New("read", "read Dovecot's configuration", conf, fmt.Errorf("doveconf -n: %v: %s", err, strings.TrimSpace(stderr.String())))
		e.Setting = setting
		e.Who = diag.Self()
		e.SetFix(diag.Because("Dovecot's configuration is root's", diag.Command("ebb", "doctor", "-c", orDefault(env.Cfg.File))).
			OrElse(diag.Steps(diag.Say("fix what doveconf reports"), diag.Command("doveconf", "-c", conf, "-n"))))
		return []Finding{Warned(name, e)}
	}
	v := parseDoveconf(out)
	ebbDB, ebbEngine := ebbDirectoryIdentity(env)
	var sqlFile, connect string
	for _, args := range v.sqlArgs {
		driver, c, err := readDovecotSQL(args)
		if err != nil {
			e := diag.PathError("ebb doctor", "read", "read Dovecot's SQL file", args, err, setting)
			return []Finding{Warned(name, e)}
		}
		if sameDatabase(driver, c, ebbEngine, ebbDB) {
			sqlFile, connect = args, c
			break
		}
	}
	if sqlFile == "" {
		return []Finding{Passed(name, conf, "Dovecot does not read ebb's directory (no sql passdb/userdb on "+ebbDB+"); nothing to check")}
	}
	var fs []Finding
	mailUser, err := mailuser.Lookup(env.Cfg)
	if err != nil {
		return nil // server.user's own check reports it
	}
	uid, gid := mailUser.UID, mailUser.GID

	// The Maildirs: Dovecot opens them as mail_uid; ebb writes them as
	// server.user.
	dUID := -1
	if n, err := strconv.Atoi(v.mailUID); err == nil {
		dUID = n
	} else if u, err := user.Lookup(v.mailUID); err == nil {
		dUID, _ = strconv.Atoi(u.Uid)
	}
	if dUID != uid {
		e := diag.New("owner", "let Dovecot open the Maildirs ebb writes in", env.Cfg.Mail.Root,
			//lint:ignore ST1005 Dovecot is a name; the reason is a sentence of the diag error, not wrapped
			fmt.Errorf("Dovecot's mail_uid is %q, ebb writes them as %s (uid %d)", v.mailUID, env.Cfg.Server.User, uid))
		e.Found = diag.Describe(env.Cfg.Mail.Root)
		e.Setting = env.Cfg.Setting("server.user")
		e.SetFix(dovecotSnippet(env, conf, sqlFile, "it sets mail_uid and mail_gid to server.user"))
		fs = append(fs, Failed(name, e))
	} else if uid < v.firstValid || (v.lastValid > 0 && uid > v.lastValid) {
		e := diag.New("owner", "let Dovecot open the Maildirs in", env.Cfg.Mail.Root,
			fmt.Errorf("uid %d (%s) is outside Dovecot's first_valid_uid %d / last_valid_uid %d, so every login fails", uid, env.Cfg.Server.User, v.firstValid, v.lastValid))
		e.Setting = env.Cfg.Setting("server.user")
		e.SetFix(dovecotSnippet(env, conf, sqlFile, fmt.Sprintf("it sets first_valid_uid = %d", uid)))
		fs = append(fs, Failed(name, e))
	} else if st, err := os.Stat(env.Cfg.Mail.Root); err == nil && int(st.Sys().(*syscall.Stat_t).Uid) != uid {
		e := diag.New("owner", "let Dovecot open the Maildirs in", env.Cfg.Mail.Root,
			fmt.Errorf("the mail root is not owned by %s, as whom Dovecot and ebb open it", env.Cfg.Server.User))
		e.Found = diag.Describe(env.Cfg.Mail.Root)
		e.Setting = env.Cfg.Setting("mail.root")
		// Chown refuses a root the system shares (/var/mail): the fix then
		// gives ebb a root of its own, and Dovecot the new location.
		f := diag.Chown(env.Cfg.Mail.Root, e.Setting.MailUser(), e.Setting)
		if diag.IsSystemPath(env.Cfg.Mail.Root) {
			f.Then(dovecotSnippet(env, conf, sqlFile, "it names the Maildirs under the new mail.root").Steps...)
		}
		e.SetFix(f)
		fs = append(fs, Failed(name, e))
	} else {
		fs = append(fs, Passed(name, env.Cfg.Mail.Root, fmt.Sprintf("Dovecot opens the Maildirs as uid %d %s, their owner (mail_uid in %s)", uid, env.Cfg.Server.User, conf)))
	}

	// The SQL file is ebb's own text: after an upgrade whose schema moved,
	// or a change of mail.root, mail.maildir, mail.quota* or the
	// directory, Dovecot's logins and quotas follow the old one until it
	// is written again (nothing rewrites it on its own).
	o, _ := dovecotconf.ForUser(env.Cfg, sqlFile)
	if want, err := dovecotconf.Generate(env.Cfg, o); err == nil {
		if have, err := os.ReadFile(sqlFile); err == nil && string(have) != want.SQL {
			e := diag.New("compare", "let Dovecot query the directory as this ebb does with", sqlFile,
				errors.New("the file differs from what ebb dovecot sql prints now (written by an older ebb, or before a change of mail.*, sieve.* or directory.*): Dovecot's logins, Maildirs and quotas may not be ebb's"))
			e.SetFix(diag.Steps(diag.Shell(ebbCommand(env, "dovecot sql")+" > "+shellWord(sqlFile)), dovecotReload(conf)))
			fs = append(fs, Warned(name, e))
		}
	}

	// The directory database, as Dovecot's auth worker reads it.
	if ebbEngine != "sqlite" {
		return append(fs, Passed(name, sqlFile, "Dovecot's passdb and userdb query ebb's PostgreSQL directory "+ebbDB))
	}
	worker := v.authWorkerUser
	if worker == "" {
		worker = "root" // Dovecot 2.3's default for the auth worker
	}
	wu, err := user.Lookup(worker)
	if err != nil {
		e := diag.New("lookup", "find Dovecot's auth worker user", worker, err)
		e.SetFix(dovecotSnippet(env, conf, sqlFile, "it sets service auth-worker { user = "+env.Cfg.Server.User+" }"))
		return append(fs, Failed(name, e))
	}
	wuid, _ := strconv.Atoi(wu.Uid)
	wgid, _ := strconv.Atoi(wu.Gid)
	if wuid == 0 {
		return append(fs, Passed(name, connect, "Dovecot's auth worker reads the directory database as root"))
	}
	// SQLite in WAL mode: a reader opens the file and writes the -shm index
	// beside it, so it needs read on the file and write on the folder.
	dir := filepath.Dir(connect)
	for _, c := range []struct {
		path string
		need uint32
	}{{connect, 4}, {dir, 3}} {
		st, err := os.Stat(c.path)
		if err != nil {
			return append(fs, Failed(name, diag.PathError("ebb doctor", "stat", "let Dovecot read the directory database", c.path, err, env.Cfg.Setting("server.data_dir"))))
		}
		if !permits(st, wuid, wgid, c.need) {
			e := diag.New("access", "let Dovecot's auth worker read the directory database", c.path,
				fmt.Errorf("%s (uid %d), Dovecot's auth worker, cannot %s it", worker, wuid, map[uint32]string{4: "read", 3: "write the -shm file in"}[c.need]))
			e.Found = diag.Describe(c.path)
			e.Who = &diag.Identity{UID: wuid, User: worker, GID: wgid}
			e.Setting = env.Cfg.Setting("server.data_dir")
			if wuid == uid {
				// The worker runs as the mail user already (issue 21: the
				// old hint said to set what was set): the database, or
				// its folder, is not the mail user's.
				e.SetFix(diag.Chown(c.path, e.Setting.MailUser(), e.Setting))
			} else {
				e.SetFix(dovecotSnippet(env, conf, sqlFile, "it runs the auth worker as "+env.Cfg.Server.User))
			}
			return append(fs, Failed(name, e))
		}
	}
	_ = gid
	return append(fs, Passed(name, connect, fmt.Sprintf("Dovecot's auth worker (%s, uid %d) can read the directory database", worker, wuid)))
}

// dovecotSnippet is the fix that installs ebb's Dovecot snippet (docs/
// dovecot.md) beside Dovecot's configuration conf, and reloads Dovecot;
// what says what in it matters here. The snippet names the SQL file
// Dovecot reads ebb's directory through now (sqlFile), wherever it is,
// and the reload reaches the Dovecot of conf: both as written work when
// followed (test/deliver/dovecot_snippet_test.go).
func dovecotSnippet(env *Env, conf, sqlFile, what string) *diag.Fix {
	snippet := filepath.Join(filepath.Dir(conf), "conf.d", "99-ebb.conf")
	gen := ebbCommand(env, "dovecot config")
	if sqlFile != "" && sqlFile != dovecotconf.DefaultSQLConf {
		gen += " --sql-conf " + shellWord(sqlFile)
	}
	return diag.Because("install ebb's snippet for Dovecot ("+what+")",
		diag.Shell(gen+" > "+shellWord(snippet)), dovecotReload(conf))
}

// ebbCommand is "ebb WORDS", with -c when the config is not the default.
func ebbCommand(env *Env, words string) string {
	gen := "ebb " + words
	if env.Cfg.File != "" && env.Cfg.File != config.DefaultPath {
		gen += " -c " + shellWord(env.Cfg.File)
	}
	return gen
}

// dovecotReload reloads the Dovecot that reads conf.
func dovecotReload(conf string) diag.Step {
	if conf != defaultDovecotConfig {
		return diag.Command("doveadm", "-c", conf, "reload")
	}
	return diag.Command("doveadm", "reload")
}

// defaultDovecotConfig is where Dovecot reads its configuration without
// -c (and doctor.dovecot_config's default).
const defaultDovecotConfig = "/etc/dovecot/dovecot.conf"

// orDefault is the config file, or the default path when none was read.
func orDefault(file string) string {
	if file == "" {
		return config.DefaultPath
	}
	return file
}

// shellWord quotes s for sh when it needs it.
func shellWord(s string) string { return diag.Command(s).Run }

// permits reports whether uid/gid get the need bits (4 read, 2 write, 1
// search) on st by the owner/group/other rule.
func permits(st os.FileInfo, uid, gid int, need uint32) bool {
	s := st.Sys().(*syscall.Stat_t)
	m := uint32(st.Mode().Perm())
	switch {
	case int(s.Uid) == uid:
		m >>= 6
	case int(s.Gid) == gid:
		m >>= 3
	}
	return m&need == need
}

// parseDoveconf reads the blocks and settings of `doveconf -n` output.
func parseDoveconf(out []byte) doveconfView {
	v := doveconfView{firstValid: 500}
	var stack []string
	var driver, args string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, "{") {
			stack = append(stack, strings.TrimSpace(strings.TrimSuffix(line, "{")))
			driver, args = "", ""
			continue
		}
		if line == "}" {
			if n := len(stack); n > 0 {
				top := stack[n-1]
				if (top == "passdb" || top == "userdb") && driver == "sql" {
					v.sqlArgs = append(v.sqlArgs, args)
				}
				stack = stack[:n-1]
			}
			continue
		}
		k, val, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		in := strings.Join(stack, "/")
		switch {
		case in == "passdb" || in == "userdb":
			if k == "driver" {
				driver = val
			} else if k == "args" {
				args = val
			}
		case in == "" && k == "mail_uid":
			v.mailUID = val
		case in == "" && k == "first_valid_uid":
			v.firstValid, _ = strconv.Atoi(val)
		case in == "" && k == "last_valid_uid":
			v.lastValid, _ = strconv.Atoi(val)
		case in == "service auth-worker" && k == "user":
			v.authWorkerUser = val
		}
	}
	return v
}

// readDovecotSQL returns the driver and connect lines of a Dovecot SQL file.
func readDovecotSQL(path string) (driver, connect string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "driver":
			driver = strings.TrimSpace(v)
		case "connect":
			connect = strings.TrimSpace(v)
		}
	}
	if driver == "" {
		return "", "", errors.New("no driver line")
	}
	return driver, connect, nil
}

// ebbDirectoryIdentity is ebb's directory: the SQLite file, or
// host:port/dbname for PostgreSQL.
func ebbDirectoryIdentity(env *Env) (db, engine string) {
	if p, _ := env.Cfg.SQLiteDirectory(); p != "" {
		return p, "sqlite"
	}
	dsn := strings.TrimSpace(env.Cfg.Directory.DSN)
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		port := u.Port()
		if port == "" {
			port = "5432"
		}
		return u.Hostname() + ":" + port + "/" + strings.TrimPrefix(u.Path, "/"), "pgsql"
	}
	return dsn, "pgsql"
}

// sameDatabase reports whether Dovecot's driver and connect string name
// ebb's directory.
func sameDatabase(driver, connect, engine, db string) bool {
	if driver != engine {
		return false
	}
	if engine == "sqlite" {
		a, _ := filepath.Abs(connect)
		b, _ := filepath.Abs(db)
		return a == b
	}
	kv := map[string]string{"port": "5432"}
	for _, f := range strings.Fields(connect) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = strings.Trim(v, "'")
		}
	}
	return kv["host"]+":"+kv["port"]+"/"+kv["dbname"] == db
}
