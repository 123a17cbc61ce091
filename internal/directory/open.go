package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/passwd"
)

// Engine is the database behind a Directory.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Directory is the SQL directory. It implements Resolver and the admin
// operations. It is safe for concurrent use.
type Directory struct {
	db     *sql.DB
	engine Engine
	// where names the database in messages: the SQLite file, or
	// host:port/dbname for PostgreSQL (never the password).
	where   string
	setting *diag.Setting
	cfg     config.Directory
	policy  passwd.Policy
	auth    authGate // auth.go: bounded cost of logins
	log     *slog.Logger

	owner *mailuser.User // Options.Owner

	// readOnly: Options.ReadOnly. mapFresh: the delivery map matched the
	// database when this directory last wrote or checked it (map.go).
	readOnly, mapFresh bool
	mapMu              sync.Mutex

	resolved *ttlCache[*Resolution]
	domains  *ttlCache[domainInfo]
	stmts    sync.Map // query → *sql.Stmt
	watch    watch    // fresh.go: has the database changed (MailboxNow)
}

// Options adjust Open.
type Options struct {
	// Logger receives rehash and migration notes; nil: slog.Default().
	Logger *slog.Logger
	// NoMigrate opens without touching the schema (doctor, status). An
	// outdated or missing schema is then reported by SchemaVersion.
	NoMigrate bool
	// ReadOnly opens a SQLite directory for lookups only (SQLite's
	// mode=ro): no write lock is ever taken, nothing is created, and the
	// last connection to close leaves the -wal and -shm files in place
	// instead of checkpointing and deleting them. For one-shot lookups
	// (the delivery agent); ignored for PostgreSQL.
	ReadOnly bool
	// Owner is the mail user when ebb runs as root for it (an admin
	// command: mailuser.ForRoot): Open then refuses a data directory
	// Owner cannot write, creates a missing one for Owner, and gives the
	// SQLite database and its -wal and -shm files to Owner after opening
	// and again after Close, so that the daemon can use what root made.
	// Ignored for ReadOnly and for PostgreSQL, which keeps no local state.
	Owner *mailuser.User
}

// Open opens the directory that cfg names and brings its schema up to date.
// Errors are *diag.Error: an unreachable database is temporary and names the
// database and the cause; a schema newer than this ebb is refused.
func Open(ctx context.Context, cfg *config.Config) (*Directory, error) {
	return OpenWith(ctx, cfg, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, cfg *config.Config, opt Options) (*Directory, error) {
	d := &Directory{
		cfg: cfg.Directory,
		log: opt.Logger,
		policy: passwd.Policy{
			Argon2: passwd.Argon2{
				MemoryKiB: uint32(int64(cfg.Directory.Argon2Memory) / 1024),
				Time:      uint32(cfg.Directory.Argon2Time),
				Threads:   uint8(cfg.Directory.Argon2Threads),
			},
			AllowPlain: cfg.Directory.AllowPlain,
		},
		resolved: newTTLCache[*Resolution](cfg.Directory.CacheTTL.Duration, 200000),
		owner:    opt.Owner,
		domains:  newTTLCache[domainInfo](cfg.Directory.CacheTTL.Duration, 100000),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if opt.ReadOnly {
		d.owner = nil
	}
	d.readOnly = opt.ReadOnly
	dsn := strings.TrimSpace(cfg.Directory.DSN)
	var err error
	switch {
	case dsn == "":
		d.setting = cfg.Setting("server.data_dir")
		err = d.openSQLite(ctx, filepath.Join(cfg.Server.DataDir, "directory.db"), cfg, opt.ReadOnly)
	case strings.HasPrefix(dsn, "sqlite:"):
		d.setting = cfg.Setting("directory.dsn")
		p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		err = d.openSQLite(ctx, p, cfg, opt.ReadOnly)
	case IsPostgresDSN(dsn):
		d.setting = cfg.Setting("directory.dsn")
		d.setting.Value = redactDSN(d.setting.Value)
		err = d.openPostgres(ctx, dsn, cfg)
	default:
		e := &diag.Error{Op: "config", Doing: "use directory.dsn", Path: redactDSN(dsn),
			Reason: "not sqlite:/path nor postgres://user:password@host:port/db", Class: diag.Permanent,
			Exit: diag.ExConfig, Setting: cfg.Setting("directory.dsn"),
			Hint: "set directory.dsn to \"\" (SQLite in server.data_dir), sqlite:/path/file.db or postgres://…"}
		e.Setting.Value = redactDSN(e.Setting.Value)
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	if !opt.NoMigrate {
		if _, _, err := d.Migrate(ctx); err != nil {
			d.db.Close()
			return nil, err
		}
		if !opt.ReadOnly {
			// Opened to write (the daemon, an admin command): a map that
			// a change outside ebb left stale is made again here.
			if err := d.RefreshMap(ctx); err != nil {
				d.log.Warn("cannot write the directory's delivery map: ebb-deliver hands each -d delivery to ebb deliver until it is written",
					"map", d.MapPath(), "err", err)
			}
		}
	}
	return d, nil
}

// OpenForReading opens the directory for a command that only reads (ebb
// user list, ebb directory resolve): read-only, nothing created, migrated
// or chowned. A missing SQLite database is an error naming its path and the
// setting that chose it; a schema at another version than this ebb's is
// refused with what to run.
func OpenForReading(ctx context.Context, cfg *config.Config) (*Directory, error) {
	d, err := OpenWith(ctx, cfg, Options{ReadOnly: true, NoMigrate: true})
	if err != nil {
		return nil, err
	}
	v, err := d.CurrentVersion(ctx)
	if err != nil {
		d.Close()
		return nil, d.dbError("open", err)
	}
	switch want := SchemaVersion(); {
	case v < want:
		d.Close()
		e := diag.New("migrate", "read the directory database", d.Where(), fmt.Errorf("its schema is at version %d, this ebb reads version %d", v, want))
		e.Setting, e.Class = d.setting, diag.Temporary
		return nil, e.SetFix(diag.Steps(diag.Command("ebb", "directory", "migrate", "-c", configFile(cfg))))
	case v > want:
		d.Close()
		e := diag.New("migrate", "read the directory database", d.Where(), fmt.Errorf("its schema is at version %d, newer than this ebb's %d", v, want))
		e.Setting, e.Class = d.setting, diag.Permanent
		return nil, e.SetFix(diag.Steps(diag.Say("use the ebb that migrated it (upgrade this one)")))
	}
	return d, nil
}

// OpenForCommand opens the directory for an administration command. With
// opt.ReadOnly (a command that only reads: list, resolve, user check)
// nothing is created, migrated or chowned (OpenForReading) and the mail
// user need not exist. Otherwise, run as root, what it creates belongs to
// server.user (Options.Owner from mailuser.ForRoot): a missing mail user
// is refused before anything is made.
func OpenForCommand(ctx context.Context, cfg *config.Config, opt Options) (*Directory, error) {
	if opt.ReadOnly {
		return OpenForReading(ctx, cfg)
	}
	owner, err := mailuser.ForRoot(cfg)
	if err != nil {
		return nil, err
	}
	opt.Owner = owner
	return OpenWith(ctx, cfg, opt)
}

// configFile is the config file cfg was read from, for a command in a fix.
func configFile(cfg *config.Config) string {
	if cfg.File == "" {
		return config.DefaultPath
	}
	return cfg.File
}

// IsBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY
// or SQLITE_LOCKED, after directory.busy_timeout): a lock another process
// holds. Opening the database again would only wait as long once more.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == 5 || code == 6
}

// Close releases the database. Files SQLite left beside it go to
// Options.Owner too.
func (d *Directory) Close() error {
	d.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	d.watch.mu.Lock()
	d.watch.closeConn()
	d.watch.mu.Unlock()
	restamp := d.mapBeforeClose()
	err := d.db.Close()
	if gerr := d.giveToOwner(); err == nil {
		err = gerr
	}
	if restamp {
		d.mapAfterClose()
	}
	return err
}

// Engine says which database this is.
func (d *Directory) Engine() Engine { return d.engine }

// Where names the database for people: a file path, or host:port/dbname.
func (d *Directory) Where() string { return d.where }

// DB is the database handle, for tests and doctor.
func (d *Directory) DB() *sql.DB { return d.db }

func (d *Directory) openSQLite(ctx context.Context, path string, cfg *config.Config, ro bool) error {
	d.engine, d.where = SQLite, path
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path, d.where = abs, abs
		}
	}
	dir := filepath.Dir(path)
	if d.owner != nil {
		if err := ownerCheck(d.owner, dir, d.setting); err != nil {
			return err
		}
	}
	created := false
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if ro {
			return d.missingError(path, err)
		}
		created = true
		// The data directory is ebb's own; create it like the spool (0700)
		// for the daemon user when we are root.
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if p, err := d.owner.MkdirAll(dir, 0o750); err != nil {
				return d.fileError("create", "create the directory for the directory database", p, err)
			}
		}
	}
	// Probe what SQLite would only call "unable to open database file":
	// whether we can write where the file and its -wal/-shm live.
	if err := syscall.Access(dir, 0x2|0x1); err != nil {
		return d.fileError("open", "open the directory database in", dir, err)
	}
	if !created {
		if err := syscall.Access(path, 0x4|0x2); err != nil {
			return d.fileError("open", "open the directory database", path, err)
		}
	}
	busy := cfg.Directory.BusyTimeout.Milliseconds()
	// WAL lets readers (RCPT checks) go on while a CLI writes; busy_timeout
	// makes concurrent writers wait instead of failing at once; immediate
	// transactions take the write lock up front, so two writers never
	// deadlock upgrading a read lock.
	//
	// journal_mode is set once below, not per connection: it is stored in
	// the file, and setting it on every new pooled connection makes them
	// queue for a lock (p99 of 150 ms under 32 lookers, measured).
	q := fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=mmap_size(67108864)&_txlock=immediate", busy)
	if ro {
		// Lookups only: none of the write-side pragmas, and the journal
		// mode is left as the writers set it (each statement here is
		// parsed and run in every one-message delivery).
		q = fmt.Sprintf("?_pragma=busy_timeout(%d)&mode=ro", busy)
	}
	db, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return d.fileError("open", "open the directory database", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	d.db = db
	if ro {
		return nil
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close()
		return d.dbError("open", err)
	}
	if !strings.EqualFold(mode, "wal") {
		if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
			db.Close()
			return d.dbError("open", err)
		}
	}
	if created {
		// It holds password hashes: not for every user to read. SQLite
		// gives the -wal and -shm files the database file's mode.
		os.Chmod(path, 0o640)
	}
	if err := d.giveToOwner(); err != nil {
		db.Close()
		return err
	}
	return nil
}

// ownerCheck runs before a SQLite directory is opened for Owner, and
// returns a *diag.Error when what root would create there could not be
// used by the daemon: a mail user that does not exist (Options.Owner's
// lookup), or a data directory that user cannot write (SQLite creates
// -wal and -shm beside the database).
func ownerCheck(o *mailuser.User, dir string, setting *diag.Setting) error {
	fi, err := os.Stat(dir)
	if err != nil || o.CanWrite(fi) {
		return nil // missing: openSQLite creates it for the mail user
	}
	e := diag.New("access", "keep the directory database in", dir,
		fmt.Errorf("%s (uid %d) cannot write there, and the daemon runs as that user", o.Name, o.UID))
	e.Found = diag.Describe(dir)
	e.Setting = setting
	e.Class, e.Exit = diag.Permanent, diag.ExNoPerm
	// Chown refuses a directory the system shares: the fix then gives
	// the setting a directory of ebb's own.
	return e.SetFix(diag.Chown(dir, setting.MailUser(), setting))
}

// giveToOwner gives the SQLite database and its -wal and -shm files, those
// present, to Options.Owner: they are ebb's own by name.
func (d *Directory) giveToOwner() error {
	if d.owner == nil || d.engine != SQLite {
		return nil
	}
	if err := d.owner.Give(d.where, d.where+"-wal", d.where+"-shm"); err != nil {
		var pe *fs.PathError
		errors.As(err, &pe)
		return diag.PathError("", "chown", "give the directory database to "+d.owner.Name, pe.Path, pe.Err, d.setting)
	}
	return nil
}

// PostgresDriver is the PostgreSQL half of the directory. It lives in
// internal/directory/postgres, which registers itself when imported, so
// that a program that never talks to PostgreSQL does not link pgx: the
// one-message delivery agent ebb-deliver starts in about half the time
// without it (issue 16). cmd/ebb imports it.
type PostgresDriver interface {
	// Open parses dsn and returns the database handle (not yet
	// connected) and the name of the database for people:
	// host:port/dbname, never the password. A DSN it cannot parse is an
	// error whose text holds no password.
	Open(dsn string, connectTimeout time.Duration) (db *sql.DB, where string, err error)
	// Hint proposes a fix for a failure of that database.
	Hint(err error) string
	// IsUnique reports a unique-constraint violation.
	IsUnique(err error) bool
}

// postgresDriver is set once, by the postgres package's init (the
// database/sql driver pattern), and only read afterwards.
var postgresDriver PostgresDriver

// RegisterPostgres makes PostgreSQL DSNs usable. Called from the init of
// internal/directory/postgres.
func RegisterPostgres(p PostgresDriver) { postgresDriver = p }

// HasPostgres reports whether this program can open a PostgreSQL directory.
func HasPostgres() bool { return postgresDriver != nil }

// IsPostgresDSN reports whether directory.dsn names a PostgreSQL database.
func IsPostgresDSN(dsn string) bool {
	dsn = strings.TrimSpace(dsn)
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || strings.Contains(dsn, "host=")
}

func (d *Directory) openPostgres(ctx context.Context, dsn string, cfg *config.Config) error {
	d.engine = Postgres
	if postgresDriver == nil {
		return &diag.Error{Op: "config", Doing: "open the PostgreSQL directory", Path: redactDSN(dsn),
			Reason: "this program is built without PostgreSQL support", Class: diag.Temporary,
			Exit: diag.ExTempFail, Setting: d.setting, Who: diag.Self(),
			Hint: "run the full ebb binary (ebb deliver instead of ebb-deliver)"}
	}
	db, where, err := postgresDriver.Open(dsn, cfg.Directory.ConnectTimeout.Duration)
	if err != nil {
		e := &diag.Error{Op: "config", Doing: "parse directory.dsn", Path: redactDSN(dsn),
			Class: diag.Permanent, Exit: diag.ExConfig, Setting: d.setting,
			Hint: "write it as postgres://user:password@host:port/dbname"}
		e.SetCause(errors.New(redactDSN(err.Error())))
		return e
	}
	d.where = where
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	d.db = db
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return d.dbError("connect", err)
	}
	return nil
}

// redactDSN hides the password in a postgres URL or key=value DSN.
func redactDSN(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.IndexByte(cred, ':'); c >= 0 {
				return s[:i+3] + cred[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	if j := strings.Index(s, "password="); j >= 0 {
		end := strings.IndexByte(s[j:], ' ')
		if end < 0 {
			return s[:j] + "password=xxxxx"
		}
		return s[:j] + "password=xxxxx" + s[j+end:]
	}
	return s
}
