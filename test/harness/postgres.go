package harness

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Postgres is a PostgreSQL 15 server the tests started: initdb and pg_ctl run
// as the postgres OS user (initdb refuses root) in a temp directory, listening
// on 127.0.0.1 and a unix socket in that directory only.
type Postgres struct {
	Dir      string // holds data/, the socket and the log
	Port     int
	User     string // the superuser
	Password string
	bin      string
	osUser   User
	mu       sync.Mutex
}

const pgVersionDir = "/usr/lib/postgresql/15/bin"

// SharedPostgres returns one server for the whole test process, started on
// first use. A watcher process stops it and removes its directory when the
// test process exits, so no TestMain is needed (test/ is shared by many).
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	return sharedPostgres.get(t)
}

var sharedPostgres = newShared("PostgreSQL", "ebb-pg-", func(dir string) (*Postgres, error) {
	pg, err := startPostgres(dir)
	if err != nil {
		return nil, err
	}
	// Stop and remove it once this process is gone, whatever ends it.
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 0.5; done; runuser -u postgres -- %s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1; rm -rf %s`,
		os.Getpid(), pgVersionDir, dir, dir)
	w := exec.Command("sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := w.Start(); err == nil {
		go w.Wait()
	}
	return pg, nil
})

// StartPostgres starts a server of the test's own, stopped when it ends: for
// tests that stop and start it.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := startPostgres(Dir(t))
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { p.pgctl("stop", "-m", "immediate") })
	return p
}

func startPostgres(dir string) (*Postgres, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the PostgreSQL tests run initdb as the postgres user and need root (the test command runs as root)")
	}
	if _, err := os.Stat(filepath.Join(pgVersionDir, "initdb")); err != nil {
		out, err := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", "--no-install-recommends", "postgresql").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("apt-get install postgresql: %v\n%s", err, out)
		}
	}
	os.Chmod(dir, 0o755)
	osu, err := lookupUser("postgres")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, User: "postgres", Password: "ebb-test-pw", bin: pgVersionDir, osUser: osu}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	os.Chown(pwfile, osu.UID, osu.GID)
	os.Chown(dir, osu.UID, osu.GID)
	if out, err := p.run("initdb", "-D", filepath.Join(dir, "data"), "-U", p.User, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func lookupUser(name string) (User, error) {
	out, err := exec.Command("id", "-u", name).Output()
	if err != nil {
		return User{}, fmt.Errorf("no %s user (is the postgresql package installed?): %v", name, err)
	}
	uid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	out, _ = exec.Command("id", "-g", name).Output()
	gid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return User{Name: name, UID: uid, GID: gid}, nil
}

func (p *Postgres) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, prog), args...)
	cmd.Dir = p.Dir
	AsUser(cmd, p.osUser)
	return cmd.CombinedOutput()
}

func (p *Postgres) pgctl(args ...string) ([]byte, error) {
	return p.run("pg_ctl", append([]string{"-D", filepath.Join(p.Dir, "data"), "-w"}, args...)...)
}

// start starts the server on a free port (the same one after a Stop).
func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Port == 0 {
		p.Port = freePort()
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", p.Port, p.Dir)
	out, err := p.pgctl("-l", filepath.Join(p.Dir, "log"), "-o", opts, "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.Dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Start starts a stopped server again on its port.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := p.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops the server (fast shutdown: connections are cut).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := p.pgctl("-m", "fast", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Addr is host:port.
func (p *Postgres) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.Port) }

// DSN is the URL for database db as the superuser.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", p.User, p.Password, p.Addr(), db)
}

// Psql runs SQL in database db and returns its output.
func (p *Postgres) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
		"-h", p.Dir, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password)
	AsUser(cmd, p.osUser)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

var dbSeq struct {
	sync.Mutex
	n       int
	created map[*Postgres]bool
}

// NewDatabase returns the DSN of a fresh, empty namespace: a schema of its
// own in the database "ebbtest", chosen by search_path (CREATE DATABASE per
// test costs a second; a schema costs nothing).
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	dbSeq.Lock()
	defer dbSeq.Unlock()
	if dbSeq.created == nil {
		dbSeq.created = map[*Postgres]bool{}
	}
	if !dbSeq.created[p] {
		p.Psql(t, "postgres", "CREATE DATABASE ebbtest")
		dbSeq.created[p] = true
	}
	dbSeq.n++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.n)
	db, err := sql.Open("pgx", p.DSN("ebbtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	return p.DSN("ebbtest") + "&search_path=" + name
}

// freePort is FreePort for the services started once per package run
// (PostgreSQL, the scanners): the same once-per-process ports, so that two
// of them asked for back to back never get the same one.
func freePort() int {
	port, err := freePortErr()
	if err != nil {
		return 54329
	}
	return port
}
