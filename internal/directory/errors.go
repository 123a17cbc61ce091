package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"modernc.org/sqlite"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/resolve"
)

// Errors for admin operations. Each carries the sysexits code a command
// that ends with it exits with (ExitCode, read by the CLI's one error
// printer); callers test them with errors.Is.
var (
	ErrExists        error = &adminError{"already exists", diag.ExCantCreat}
	ErrNotFound      error = &adminError{"not found", diag.ExNoUser}
	ErrNotHosted     error = &adminError{"domain is not hosted here", diag.ExNoHost}
	ErrHasMailboxes  error = &adminError{"domain still has mailboxes", diag.ExCantCreat}
	ErrAuthFailed    error = &adminError{"authentication failed", diag.ExNoPerm}
	ErrSchemaTooNew        = errors.New("directory schema is newer than this ebb")
	ErrAliasLoop           = resolve.ErrAliasLoop
	ErrAliasTooDeep        = resolve.ErrAliasTooDeep
	ErrMailboxTarget       = errors.New("address is a mailbox")
)

// adminError is an admin operation's sentinel error with its exit code.
type adminError struct {
	msg  string
	exit int
}

func (e *adminError) Error() string { return e.msg }
func (e *adminError) ExitCode() int { return e.exit }

// dbError turns a database failure into the boundary error: temporary (our
// own trouble), naming the database and the cause, with a hint.
func (d *Directory) dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := diag.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	e := diag.New(op, "", d.where, err)
	e.Class = diag.Temporary
	e.Setting = d.setting
	switch d.engine {
	case SQLite:
		e.Doing = "use the directory database"
		var se *sqlite.Error
		code := 0
		if errors.As(err, &se) {
			code = se.Code() & 0xff
		}
		switch code {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			e.SetFix(diag.Because(fmt.Sprintf("another process held a lock on %s longer than directory.busy_timeout (%s)", d.where, d.cfg.BusyTimeout),
				diag.Command("fuser", "-v", d.where), diag.Say("end or wait for the process it names")))
		case 14, 8, 10, 23: // CANTOPEN, READONLY, IOERR, AUTH
			e.Who = diag.Self()
			e.Found = diag.Describe(d.where)
			e.SetFix(diag.Because("the directory database and its folder must be writable by the user running ebb (also for the -wal and -shm files)", diag.Command("ebb", "doctor", "-c", d.setting.File)))
		case 11, 26: // CORRUPT, NOTADB
			e.SetFix(diag.Steps(diag.Say(fmt.Sprintf("%s is not a usable SQLite database: restore it from a backup", d.where))))
		default:
			e.SetFix(&diag.Fix{Check: "ebb doctor -c " + d.setting.File})
		}
	case Postgres:
		e.Doing = "reach the directory database"
		e.Hint = pgHint(err)
	}
	return e
}

// pgHint proposes a fix for a PostgreSQL failure.
func pgHint(err error) string {
	if postgresDriver == nil {
		return "run: ebb doctor"
	}
	return postgresDriver.Hint(err)
}

// isUnique reports a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 19 // SQLITE_CONSTRAINT
	}
	return postgresDriver != nil && postgresDriver.IsUnique(err)
}

// fileError is a filesystem failure on the SQLite file or its folder.
func (d *Directory) fileError(op, doing, path string, err error) error {
	e := diag.PathError("", op, doing, path, err, d.setting)
	return e
}

// missingError is the error for a SQLite directory database that is not
// there when a command only reads (ebb user list, doctor, ebb deliver,
// ebb route): nothing is created, and the error names the path and the
// setting that chose it. When the setting's built-in default holds a
// database, the setting was likely mistyped: the fix sets it back.
func (d *Directory) missingError(path string, err error) error {
	e := diag.New("open", "open the directory database", path, err)
	e.Reason = "it does not exist: no domain has been added, or " + d.setting.Key + " names another folder than the one that holds it"
	e.Class, e.Exit = diag.Temporary, diag.ExTempFail
	e.Setting, e.Found = d.setting, diag.Describe(path)
	if s := d.setting; s.Key == "server.data_dir" && s.Builtin != "" && filepath.Clean(s.Builtin) != filepath.Clean(s.Value) {
		if _, serr := os.Stat(filepath.Join(s.Builtin, "directory.db")); serr == nil {
			return e.SetFix(diag.Because(filepath.Join(s.Builtin, "directory.db")+" is where the default puts it",
				diag.SetString(s, s.Builtin)))
		}
	}
	return e.SetFix(diag.Steps(diag.Say("if no domain is hosted yet, ebb domain add DOMAIN creates the database; else point " + d.setting.Key + " at the folder that holds it")))
}

// Fail is the boundary error for a failure of the directory's database
// met by a part that keeps tables of its own there (internal/cluster):
// temporary, naming the database, with the hint for its cause.
func (d *Directory) Fail(op string, err error) error { return d.dbError(op, err) }
