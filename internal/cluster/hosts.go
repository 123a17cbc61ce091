package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
	"github.com/ebbmail/ebb/internal/tide"
)

// HeartbeatEvery is how often a running host says it is alive, with its
// queue's summary; a host not heard of for LiveWithin counts as gone.
const (
	HeartbeatEvery = 5 * time.Second
	LiveWithin     = 4 * HeartbeatEvery
)

// Facts are what a host tells the others about itself, so that doctor on
// any host can compare what must agree and name what each host still
// does alone.
type Facts struct {
	// SRS is a digest of the SRS secret ("" when SRS is off): a bounce
	// to an address one host rewrote must verify on every MX.
	SRS string `json:"srs,omitempty"`
	// DKIM: "domain selector digest" of each signing key.
	DKIM []string `json:"dkim,omitempty"`
	// ACME: the names this host orders certificates for.
	ACME []string `json:"acme,omitempty"`
	// DeliveryHost is mail.delivery_host; MailRoot mail.root. A host
	// without a delivery host stores Maildirs: it leaves a mark of its
	// run in mail.root (MarkMailRoot), by which doctor on another host
	// storing Maildirs sees whether both write the same storage.
	DeliveryHost string `json:"delivery_host,omitempty"`
	MailRoot     string `json:"mail_root,omitempty"`
	// SMTP are the addresses of this host's SMTP listeners.
	SMTP  []string `json:"smtp,omitempty"`
	Fetch bool     `json:"fetch,omitempty"`
	// FetchLeases: this host fetches an account only while it holds its
	// lease (internal/fetch); without, every host with fetch.enabled
	// fetches every account.
	FetchLeases bool `json:"fetch_leases,omitempty"`
	// Page is the address of this host's queue page (metrics.listen).
	Page string `json:"page,omitempty"`
	// PerHost are settings that still count on each host alone, as
	// "key = value" (doctor says what that means for several hosts).
	PerHost []string `json:"per_host,omitempty"`
}

// Host is one host as the others see it.
type Host struct {
	Name    string
	Boot    string
	Started time.Time
	Seen    time.Time
	Stopped bool
	Live    bool // heard of within LiveWithin and not stopped
	Facts   Facts
	// Queue is the summary the host last published (its queue page's
	// own type, as JSON).
	Queue json.RawMessage
}

// MarkDir is the folder in mail.root where each host storing Maildirs
// leaves the boot id of its run (a file named for the host).
const MarkDir = ".ebb-hosts"

// MarkMailRoot leaves this run's mark in root (mail.root): another host
// whose mail.root is the same storage sees it.
func (c *Cluster) MarkMailRoot(root string) error {
	dir := filepath.Join(root, MarkDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return safeio.WriteFile(filepath.Join(dir, c.host), []byte(c.boot+"\n"), 0o600)
}

// Boot is this run's id.
func (c *Cluster) Boot() string { return c.boot }

// Register says this host is running (a new run: its boot id) with its
// facts, taking the row of its name.
func (c *Cluster) Register(ctx context.Context, f Facts) error {
	fb, _ := json.Marshal(f)
	c.mu.Lock()
	c.facts = string(fb)
	c.mu.Unlock()
	now := c.now()
	_, err := c.db.ExecContext(ctx, `INSERT INTO cluster_hosts (name, boot, started, seen, stopped, facts) VALUES ($1, $2, $3, $3, false, $4)
		ON CONFLICT (name) DO UPDATE SET boot = EXCLUDED.boot, started = EXCLUDED.started, seen = EXCLUDED.seen, stopped = false, facts = EXCLUDED.facts`,
		c.host, c.boot, now, string(fb))
	return c.fail("register this host", err)
}

// ErrNameTaken: another run registered this host's name since this one's
// last beat. Two live hosts must not share a name: the journal, the
// leases and the queue page tell hosts apart by it (a run that restarted
// after a crash just takes its row over, and is not told).
var ErrNameTaken = errors.New("another running ebb registered this host's name (server.hostname) in the shared directory: give each host its own name")

// Beat says this host is alive, with its queue summary (nil: unchanged).
// ErrNameTaken when another run took this host's row; Beat registers
// this run again, so two runs of one name keep saying so.
func (c *Cluster) Beat(ctx context.Context, queue any) error {
	var q any = nil
	if queue != nil {
		b, err := json.Marshal(queue)
		if err != nil {
			return err
		}
		q = string(b)
	}
	res, err := c.db.ExecContext(ctx, `UPDATE cluster_hosts SET seen = $1, stopped = false, queue = COALESCE($2, queue) WHERE name = $3 AND boot = $4`,
		c.now(), q, c.host, c.boot)
	if err != nil {
		return c.fail("tell the other hosts this one is alive", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		c.mu.Lock()
		facts := c.facts
		c.mu.Unlock()
		var f Facts
		json.Unmarshal([]byte(facts), &f)
		if err := c.Register(ctx, f); err != nil {
			return err
		}
		return ErrNameTaken
	}
	return nil
}

// Stopped says this host stopped (a clean stop: the others need not wait
// for its heartbeat to end).
func (c *Cluster) Stopped(ctx context.Context) error {
	_, err := c.db.ExecContext(ctx, `UPDATE cluster_hosts SET stopped = true, seen = $1 WHERE name = $2 AND boot = $3`, c.now(), c.host, c.boot)
	return c.fail("tell the other hosts this one stopped", err)
}

// Hosts lists every host that ever ran on this database, by name.
func (c *Cluster) Hosts(ctx context.Context) ([]Host, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name, boot, started, seen, stopped, facts, queue FROM cluster_hosts ORDER BY name`)
	if err != nil {
		return nil, c.fail("list the hosts", err)
	}
	defer rows.Close()
	now := c.now()
	var out []Host
	for rows.Next() {
		var h Host
		var facts, queue string
		if err := rows.Scan(&h.Name, &h.Boot, &h.Started, &h.Seen, &h.Stopped, &facts, &queue); err != nil {
			return nil, c.fail("list the hosts", err)
		}
		json.Unmarshal([]byte(facts), &h.Facts)
		h.Queue = json.RawMessage(queue)
		h.Live = !h.Stopped && now.Sub(h.Seen) < LiveWithin
		out = append(out, h)
	}
	return out, c.fail("list the hosts", rows.Err())
}

// Keeper runs the heartbeat (every HeartbeatEvery, with queue's summary)
// and the upkeep of the shared tables (ended Sieve records, submission
// counts past their hour, the journal past retention) until ctx ends; then it says this host stopped.
func (c *Cluster) Keeper(ctx context.Context, queue func() any, journalRetention time.Duration) {
	beat := time.NewTicker(HeartbeatEvery)
	defer beat.Stop()
	var lastUpkeep time.Time
	for {
		bctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
		var q any
		if queue != nil {
			q = queue()
		}
		if err := c.Beat(bctx, q); errors.Is(err, ErrNameTaken) {
			c.log.Error("shared state: "+err.Error(), "host", c.host, "setting", "server.hostname")
		} else if err != nil {
			c.log.Warn("shared state: heartbeat not written", "err", err)
		}
		if now := c.now(); now.Sub(lastUpkeep) > time.Hour {
			lastUpkeep = now
			if err := c.expireSieve(bctx, now); err != nil {
				c.log.Warn("shared state: ended vacation and duplicate records not removed", "err", c.fail("expire", err))
			}
			if err := c.expireRates(bctx, now); err != nil {
				c.log.Warn("shared state: submission counts past their hour not removed", "err", c.fail("expire", err))
			}
			if journalRetention > 0 {
				// As a host's files: a day is kept retention after it ended.
				if err := c.pruneJournal(bctx, now.Add(-journalRetention-24*time.Hour)); err != nil {
					c.log.Warn("shared state: old journal records not removed", "err", c.fail("prune", err))
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			c.Stopped(sctx)
			cancel()
			return
		case <-beat.C:
		}
	}
}

// HostViews are every host with the queue it published, for the queue
// page and mailq (this host marked Self).
func (c *Cluster) HostViews(ctx context.Context) ([]tide.HostView, error) {
	hs, err := c.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	out := make([]tide.HostView, 0, len(hs))
	for _, h := range hs {
		v := tide.HostView{Name: h.Name, Live: h.Live, Self: h.Name == c.host, State: tide.HostState(h.Live, h.Stopped, h.Seen, now), Page: h.Facts.Page}
		json.Unmarshal(h.Queue, &v.Queue)
		out = append(out, v)
	}
	return out, nil
}
