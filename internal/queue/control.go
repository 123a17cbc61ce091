package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// ControlSocket is the unix socket, relative to the spool, on which the
// daemon takes queue operations (`ebb queue flush|hold|...`). It lives in
// the spool (mode 0700), so only the spool's owner and root can use it.
//
// Protocol: one JSON request per connection, {"op":"flush","ids":["..."]},
// answered by one JSON line {"results":[{"id":"...","error":"..."}],
// "error":"..."}.
const ControlSocket = "control"

type controlRequest struct {
	Op  Op       `json:"op"`
	IDs []string `json:"ids,omitempty"`
	// Domain, with OpFlush: the messages waiting for that domain
	// (FlushDomain).
	Domain string `json:"domain,omitempty"`
}

type controlReply struct {
	Results []OpResult `json:"results,omitempty"`
	Error   string     `json:"error,omitempty"`
}

func (q *Queue) listenControl() (net.Listener, error) {
	path := filepath.Join(q.spool, ControlSocket)
	// We hold the spool lock: a socket file left here is stale.
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, diag.PathError(Component, "listen", "create the control socket", path, err, q.cfg.Setting("queue.spool"))
	}
	if err := chmod(path, 0o600); err != nil {
		// Fails closed: with the umask's mode another user might control
		// the queue. Run logs it; deliveries go on without the socket.
		l.Close()
		return nil, diag.PathError(Component, "chmod", "make the control socket private (mode 0600)", path, err, q.cfg.Setting("queue.spool"))
	}
	q.own(path)
	return l, nil
}

// chmod is os.Chmod; a test makes it fail.
var chmod = os.Chmod

func (q *Queue) serveControl(ctx context.Context, l net.Listener) {
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go q.handleControl(c)
	}
}

func (q *Queue) handleControl(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(q.set.attemptTimeout + 10*time.Second))
	var req controlRequest
	var rep controlReply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		rep.Error = "bad request: " + err.Error()
	} else if req.Op == OpFlush && req.Domain != "" {
		res, err := q.FlushDomain(req.Domain)
		rep.Results = res
		if err != nil {
			rep.Error = err.Error()
		}
	} else {
		res, err := q.Do(req.Op, req.IDs)
		rep.Results = res
		if err != nil {
			rep.Error = err.Error()
		}
	}
	b, _ := json.Marshal(rep)
	c.Write(append(b, '\n'))
}

// Control applies op to ids in the queue of cfg: through the running
// daemon's control socket when there is one, else directly on the spool
// files (taking the spool lock for the moment), so that the next start
// sees the change. The error is a *diag.Error.
func Control(ctx context.Context, cfg *config.Config, log *slog.Logger, op Op, ids []string) ([]OpResult, error) {
	if !ValidOp(op) {
		return nil, fmt.Errorf("unknown queue operation %q", op)
	}
	spool := cfg.Queue.Spool
	if _, err := os.Stat(filepath.Join(spool, QueueDir)); err != nil {
		// Do not create a spool (as whoever runs this) just to find it empty.
		d := diag.PathError("ebb queue", "stat", "find the queue in", spool, err, cfg.Setting("queue.spool"))
		if errors.Is(err, fs.ErrNotExist) {
			d.SetFix(diag.Because("no message was ever queued here", diag.Say("check queue.spool (ebb serve creates the spool), or pass -c with the daemon's config")))
		}
		return nil, readError(d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := controlDial(ctx, spool, op, ids)
		if err == nil {
			return res, nil
		}
		var rerr *remoteError
		if errors.As(err, &rerr) {
			return nil, rerr.diag()
		}
		if errors.Is(err, fs.ErrPermission) {
			// The spool is private to the daemon's user: a chown would
			// be the wrong fix.
			d := diag.PathError("ebb queue", "connect", "reach the daemon through", filepath.Join(spool, ControlSocket), err, cfg.Setting("queue.spool"))
			d.SetFix(diag.Because("the spool is private to the daemon's user, so its access is not widened", diag.Say("run ebb queue as root or as server.user ("+cfg.Server.User+")")))
			return nil, d
		}
		// No daemon answers: work on the files, if nobody holds them.
		q, oerr := open(cfg, log, 0)
		if oerr == nil {
			defer q.Close()
			res, err := q.Do(op, ids)
			if err != nil {
				e := diag.New("queue", string(op), "", err)
				e.Component, e.Class, e.Exit = "ebb queue", diag.Permanent, diag.ExUsage
				return nil, e
			}
			return res, nil
		}
		var d *diag.Error
		if !errors.As(oerr, &d) || d.Op != "lock" || time.Now().After(deadline) {
			if d != nil && d.Op == "lock" {
				d.Reason += fmt.Sprintf("; its control socket %s did not answer: %v", filepath.Join(spool, ControlSocket), err)
			}
			if d != nil && d.Op == "lock" && strings.Contains(d.Reason, " serve") {
				// The holder is the running daemon, not another instance
				// to stop: it could not make its socket (its log says
				// "no control socket" and why).
				d.SetFix(diag.Because("the running ebb serve holds the spool but has no control socket (its log says why: \"no control socket\")",
					diag.Restart(cfg.Setting("queue.spool"))).AndCheck(diag.DoctorHint("ebb queue", cfg.Setting("queue.spool"))))
			}
			return nil, oerr
		}
		// A daemon holds the lock but its socket is not up yet (it is
		// starting): try again shortly.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// remoteError is an error the daemon answered with.
type remoteError struct{ msg string }

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) diag() *diag.Error {
	d := diag.New("queue", "", "", errors.New(e.msg))
	d.Component, d.Class, d.Exit = "ebb queue", diag.Permanent, diag.ExUsage
	return d
}

func controlDial(ctx context.Context, spool string, op Op, ids []string) ([]OpResult, error) {
	path := filepath.Join(spool, ControlSocket)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return controlAsk(c, path, controlRequest{Op: op, IDs: ids})
}

// controlAsk sends one request on the control connection c (to the socket
// at path) and reads the answer; an error the daemon answered with is a
// *remoteError.
func controlAsk(c net.Conn, path string, req controlRequest) ([]OpResult, error) {
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	var rep controlReply
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return nil, fmt.Errorf("read the answer on %s: %w", path, err)
	}
	if rep.Error != "" {
		return nil, &remoteError{rep.Error}
	}
	return rep.Results, nil
}
