package cluster

import (
	"context"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/sieve"
)

// SieveState is the vacation and duplicate records of every mailbox in the
// shared database (sievefilter.State): a sender is answered once per
// period and a duplicate is found whichever host delivers.
type SieveState struct{ c *Cluster }

// SieveState is the cluster's sievefilter.State.
func (c *Cluster) SieveState() *SieveState { return &SieveState{c} }

func lower(s string) string { return strings.ToLower(s) }

func (s *SieveState) Answered(ctx context.Context, mailbox, handle, sender string, now time.Time) (bool, error) {
	var n int
	err := s.c.db.QueryRowContext(ctx, `SELECT count(*) FROM sieve_vacation
		WHERE mailbox = $1 AND handle = $2 AND sender = $3 AND until > $4`,
		lower(mailbox), handle, lower(sender), now).Scan(&n)
	return n > 0, s.c.fail("read vacation records", err)
}

// ClaimAnswer is one statement: the row is inserted, or an ended one
// taken over; a row that has not ended is left alone and nothing is
// returned. Of two hosts claiming at once, PostgreSQL lets one write and
// makes the other see its row.
func (s *SieveState) ClaimAnswer(ctx context.Context, mailbox, handle, sender string, period time.Duration, now time.Time) (bool, error) {
	res, err := s.c.db.ExecContext(ctx, `INSERT INTO sieve_vacation (mailbox, handle, sender, until, host)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (mailbox, handle, sender) DO UPDATE SET until = EXCLUDED.until, host = EXCLUDED.host
		WHERE sieve_vacation.until <= $6`,
		lower(mailbox), handle, lower(sender), now.Add(period), s.c.host, now)
	if err != nil {
		return false, s.c.fail("record a vacation response", err)
	}
	n, err := res.RowsAffected()
	return n == 1, s.c.fail("record a vacation response", err)
}

func (s *SieveState) Unclaim(ctx context.Context, mailbox, handle, sender string) error {
	_, err := s.c.db.ExecContext(ctx, `DELETE FROM sieve_vacation WHERE mailbox = $1 AND handle = $2 AND sender = $3 AND host = $4`,
		lower(mailbox), handle, lower(sender), s.c.host)
	return s.c.fail("forget a vacation response", err)
}

func (s *SieveState) Seen(ctx context.Context, mailbox, handle, id string, now time.Time) (bool, error) {
	var n int
	err := s.c.db.QueryRowContext(ctx, `SELECT count(*) FROM sieve_duplicate
		WHERE mailbox = $1 AND handle = $2 AND id = $3 AND until > $4`,
		lower(mailbox), handle, id, now).Scan(&n)
	return n > 0, s.c.fail("read duplicate records", err)
}

// Remember records each id until now plus its period; one already there
// gets the later end (:last restarts the period, RFC 7352 §3.3).
func (s *SieveState) Remember(ctx context.Context, mailbox string, marks []sieve.DuplicateMark, now time.Time) error {
	for _, m := range marks {
		_, err := s.c.db.ExecContext(ctx, `INSERT INTO sieve_duplicate (mailbox, handle, id, until) VALUES ($1, $2, $3, $4)
			ON CONFLICT (mailbox, handle, id) DO UPDATE SET until = GREATEST(sieve_duplicate.until, EXCLUDED.until)`,
			lower(mailbox), m.Handle, m.ID, now.Add(m.Period))
		if err != nil {
			return s.c.fail("record duplicate ids", err)
		}
	}
	return nil
}

func (s *SieveState) Where(string) string { return s.c.Where() }

// expireSieve drops ended records (the heartbeat calls it now and then).
func (c *Cluster) expireSieve(ctx context.Context, now time.Time) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM sieve_vacation WHERE until < $1`, now); err != nil {
		return err
	}
	_, err := c.db.ExecContext(ctx, `DELETE FROM sieve_duplicate WHERE until < $1`, now)
	return err
}
