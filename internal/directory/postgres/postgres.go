// Package postgres is the directory's PostgreSQL driver (pgx). Importing
// it makes PostgreSQL DSNs (directory.dsn = "postgres://…") usable by
// internal/directory; a program that does not import it (ebb-deliver)
// links no pgx, which keeps its start-up short (issue 16).
package postgres

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ebbmail/ebb/internal/directory"
)

func init() { directory.RegisterPostgres(driver{}) }

type driver struct{}

// Open parses a pgx DSN (URL or key=value) and opens it through pgx's
// database/sql adapter.
func (driver) Open(dsn string, connectTimeout time.Duration) (*sql.DB, string, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, "", err
	}
	if connectTimeout > 0 {
		pc.ConnectTimeout = connectTimeout
	}
	where := fmt.Sprintf("%s/%s", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))), pc.Database)
	if strings.HasPrefix(pc.Host, "/") {
		where = fmt.Sprintf("%s (port %d)/%s", pc.Host, pc.Port, pc.Database)
	}
	return stdlib.OpenDB(*pc), where, nil
}

// Hint proposes a fix for a PostgreSQL failure from its SQLSTATE.
func (driver) Hint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			return "check the user and password in directory.dsn, and pg_hba.conf on the server"
		case pe.Code == "3D000":
			return "create the database (createdb) or fix its name in directory.dsn"
		case strings.HasPrefix(pe.Code, "57P"), strings.HasPrefix(pe.Code, "08"):
			return "PostgreSQL is shutting down or restarting; it will be retried"
		case pe.Code == "42501":
			return "grant the directory user rights on the database (GRANT ALL ON SCHEMA public TO …)"
		}
		return "run: ebb doctor"
	}
	return "start PostgreSQL or fix host and port in directory.dsn, then run: ebb doctor"
}

// IsUnique: SQLSTATE 23505, unique_violation.
func (driver) IsUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
