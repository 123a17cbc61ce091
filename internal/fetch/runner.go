package fetch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Runner runs every enabled account in ebb serve: each in its own
// goroutine, so that a slow or hanging server holds only its own account;
// at most fetch.max_accounts connect and fetch at once; an account in
// IDLE gives its slot back and fetches what is pushed on its open
// connection at once; a failing account backs off on its own.
type Runner struct {
	F *Fetcher
	// Accounts lists the accounts; it is read again every Reload (and at
	// Reread), so that ebb fetch add/remove/auth take effect without a
	// restart.
	Accounts func(ctx context.Context) ([]*fetchstate.FetchAccount, error)
	Reload   time.Duration // 0: 30s
	// Leases, when set, lets this host fetch an account only while it
	// holds its lease (several hosts, lease.go); LeaseLook is how often a
	// host that does not hold it looks again (0: 3s).
	Leases    Leaser
	LeaseLook time.Duration

	reread chan struct{}
	once   sync.Once
}

// Reread makes Run read the account list again now rather than at the
// next Reload (ebb serve's SIGHUP: an account just added, changed or
// removed takes effect at once).
func (r *Runner) Reread() {
	select {
	case r.rereadC() <- struct{}{}:
	default: // one is pending already
	}
}

func (r *Runner) rereadC() chan struct{} {
	r.once.Do(func() { r.reread = make(chan struct{}, 1) })
	return r.reread
}

type running struct {
	sig    string
	cancel context.CancelFunc
	// done is closed when the account's goroutine has ended: its
	// session is over, what it fetched is recorded.
	done chan struct{}
}

// Run runs until ctx ends, then waits for the accounts to stop.
//
// An account whose settings changed is stopped and started again with
// the new ones; one removed or disabled is stopped. The new goroutine
// waits for the old one to end before its first session (running.done),
// so that two passes of one account never overlap: on one host (no
// leases) they would both fetch a message that came meanwhile, and
// deliver it twice. Since SIGHUP rereads the accounts, every edit of a
// running account is such a change. The wait is in the new goroutine, so
// that the other accounts are not held up by one slow pass.
func (r *Runner) Run(ctx context.Context) error {
	slots := make(chan struct{}, max(1, r.F.Cfg.MaxAccounts))
	reload := r.Reload
	if reload <= 0 {
		reload = 30 * time.Second
	}
	var wg sync.WaitGroup
	active := map[string]*running{}
	// stopping holds the done of an account removed or disabled while its
	// goroutine may still run: one added back waits for it too.
	stopping := map[string]chan struct{}{}
	defer func() {
		for _, a := range active {
			a.cancel()
		}
		wg.Wait()
	}()
	settled := false // settleLeftPending done
	t := time.NewTicker(reload)
	defer t.Stop()
	for {
		for name, done := range stopping {
			select {
			case <-done:
				delete(stopping, name)
			default:
			}
		}
		list, err := r.Accounts(ctx)
		if err != nil {
			r.F.log().Warn("cannot read the fetch accounts; trying again", "err", err, "in", reload.String())
		} else {
			if !settled {
				r.settleLeftPending(ctx, list)
				settled = true
			}
			want := map[string]bool{}
			for _, a := range list {
				if !a.Enabled {
					continue
				}
				want[a.Name] = true
				sig := signature(a)
				prev := stopping[a.Name]
				delete(stopping, a.Name)
				if cur, ok := active[a.Name]; ok {
					if cur.sig == sig {
						continue
					}
					cur.cancel() // changed: start again with the new settings, once the old pass has ended
					prev = cur.done
				}
				actx, cancel := context.WithCancel(ctx)
				cur := &running{sig: sig, cancel: cancel, done: make(chan struct{})}
				active[a.Name] = cur
				wg.Add(1)
				go func(a *fetchstate.FetchAccount) {
					defer wg.Done()
					defer close(cur.done)
					if prev != nil {
						// Not cut short by actx: a third start waits on
						// this done, so it must not come before prev's.
						<-prev
					}
					if actx.Err() != nil {
						return
					}
					r.leased(actx, a, slots)
				}(a)
			}
			for name, cur := range active {
				if !want[name] {
					cur.cancel()
					stopping[name] = cur.done
					delete(active, name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.rereadC():
		}
	}
}

// signature is what, when changed, restarts an account.
func signature(a *fetchstate.FetchAccount) string {
	s := fmt.Sprintf("%s|%s|%d|%s|%v|%s|%s|%s|%s|%s|%s|%s|%d",
		a.Protocol, a.Host, a.Port, a.TLS, a.Verify, a.CAFile, a.Username, a.Auth, a.Password,
		strings.Join(a.Folders, ","), a.After, a.MoveTo, a.Interval)
	if a.OAuth != nil {
		s += "|" + a.OAuth.ClientID + "|" + a.OAuth.TokenURL + "|" + a.OAuth.RefreshToken
	}
	return s
}

// guarded runs the account's loop; a panic outside its passes (which
// recover their own) is logged, the account shown as failing, and the
// loop started again after fetch.backoff_max: it stops this account only,
// never ebb serve.
func (r *Runner) guarded(ctx context.Context, a *fetchstate.FetchAccount, slots chan struct{}) {
	for {
		if r.loopOnce(ctx, a, slots) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.F.Cfg.BackoffMax.Duration):
		}
	}
}

// loopOnce runs loop and reports whether it ended normally.
func (r *Runner) loopOnce(ctx context.Context, a *fetchstate.FetchAccount, slots chan struct{}) (normal bool) {
	defer func() {
		if v := recover(); v != nil {
			r.F.log().Error("fetch account stopped by a panic: a bug in ebb; the other accounts and ebb serve go on", "account", a.Name,
				"server", where(a), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err := fail(CauseInternal, "run the account (server "+where(a)+")", fmt.Errorf("a bug in ebb: %v", v),
				because("nothing is lost; please report it with the log's stack; the account is tried again after fetch.backoff_max"))
			func() {
				defer func() { recover() }()
				r.F.record(context.WithoutCancel(ctx), a, Result{}, err)
			}()
			normal = false
		}
	}()
	r.loop(ctx, a, slots)
	return true
}

func (r *Runner) loop(ctx context.Context, a *fetchstate.FetchAccount, slots chan struct{}) {
	f := r.F
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		_, err := r.attempt(ctx, a, slots)
		if ctx.Err() != nil {
			return
		}
		wait := a.Interval
		if wait <= 0 {
			wait = f.Cfg.Interval.Duration
		}
		if err != nil {
			wait = backoff(f.Cfg.BackoffMin.Duration, f.Cfg.BackoffMax.Duration, a.Status.Failures)
			f.log().Info("fetch account backs off", "account", a.Name, "failures", a.Status.Failures, "next", wait.Round(time.Second).String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// attempt is one session of the account holding a slot (given back when
// the session enters IDLE, and in any case when it ends).
func (r *Runner) attempt(ctx context.Context, a *fetchstate.FetchAccount, slots chan struct{}) (Result, error) {
	f := r.F
	held := true
	release := func() {
		if held {
			held = false
			<-slots
		}
	}
	defer release()
	var res Result
	var err error
	if a.Protocol == "pop3" {
		err = f.session(ctx, a, nil, &res, nil)
		if ctx.Err() == nil {
			f.record(ctx, a, res, err)
		}
	} else {
		w := &watch{release: release, passDone: func(res Result, err error) { f.record(ctx, a, res, err) }}
		err = f.session(ctx, a, nil, &res, w)
		if err != nil && ctx.Err() == nil {
			f.record(ctx, a, res, err)
		}
	}
	return res, err
}

// backoff doubles from lo with each failure in a row, up to hi, with
// ±10% jitter so that accounts of one server do not retry in step.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	j := time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
	return max(j, time.Second)
}

// settleLeftPending settles, once at the start (before any pass of this
// host), the messages this host left pending (on their way into its
// queue) when it stopped, in every account of list, not only in those
// whose lease it takes again. Another host that took an account over
// while this one was down cannot ask this host's queue, so it leaves such
// rows alone (settlePending); without this, a message that never became
// durable here would wait for this host's next pass of that account,
// which may never come, and stay on the server unfetched.
func (r *Runner) settleLeftPending(ctx context.Context, list []*fetchstate.FetchAccount) {
	for _, a := range list {
		if err := r.F.settlePending(ctx, a); err != nil {
			r.F.log().Warn("cannot settle the messages left on their way into the queue; the account's next pass here tries again", "account", a.Name, "err", err)
		}
	}
}
