package smtpd

import (
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Refusal is one refusal the session gave at AUTH, MAIL, RCPT or DATA: what the
// client was told, with the reference id it carries, and why (principle 1:
// every ref a client sees opens its story in ebb explain). Config.OnRefusal
// receives each one; the daemon journals it.
type Refusal struct {
	Time time.Time
	// Stage is "auth", "mail", "rcpt" or "data", or "connection" for a
	// reply that closed the connection or refused it at connect
	// (closing.go).
	Stage string
	// Code, Enhanced and Text are the reply as sent; Text ends "(ref REF)".
	// Code is 0 when no reply reached the client: it left during the
	// message (Err says how), and the ref is the log's.
	Code     int
	Enhanced [3]int
	Text     string
	// Err is why, with Err.Ref the reference id of the reply: our own
	// diagnosis (an unwritable spool, a verdict after DATA with its
	// reason and fix), or for a policy's answer the reply's words.
	Err *diag.Error

	ConnID   string
	Kind     Kind
	RemoteIP string
	Helo     string
	AuthUser string
	// Account is the account a login at AUTH tried (Stage "auth").
	Account string
	From    string
	// To is the recipient refused at RCPT, or every recipient of the
	// transaction at DATA (none at MAIL).
	To []string
	// Size is what DATA had read when it was refused.
	Size int64

	// Flood: the journal's bound on new refusal records a second was
	// reached (flood.go); refusals of any kind from any source share this
	// one's ref until its window ends.
	Flood bool
	// Count, when not 0, makes this not a refusal but the follow-up of
	// one whose ref was shared (flood.go): the first refusal's fields,
	// with Count the refusals the ref covered in all (the first
	// included), First the first's time and Time the last's.
	Count int
	First time.Time
}

// RefusalObserver receives every refusal; it is called in the session's
// goroutine before the reply is sent, so it must be quick.
type RefusalObserver func(Refusal)

// withRef is a copy of se whose text ends with a reference id, and that id;
// a reply that carries one already keeps it.
func withRef(se *Reply) (*Reply, string) {
	if i := strings.LastIndex(se.Message, "(ref "); i >= 0 && strings.HasSuffix(se.Message, ")") {
		return se, strings.TrimSuffix(se.Message[i+len("(ref "):], ")")
	}
	ref := diag.NewRef()
	c := *se
	c.Message = fmt.Sprintf("%s (ref %s)", strings.TrimRight(se.Message, " "), ref)
	return &c, ref
}

// policyError is a policy's refusal as a diag error: the reply's words are
// the reason, its code the class.
func policyError(stage, addr string, se *Reply, ref string) *diag.Error {
	doing := map[string]string{"mail": "accept the sender", "rcpt": "accept the recipient", "data": "accept the message"}[stage]
	e := &diag.Error{Component: "ebb serve", Op: stage, Doing: doing, Path: addr, Reason: se.Message, SMTPCode: se.Code,
		Enhanced: se.Enhanced, Public: se.Message, Ref: ref, Class: diag.Temporary}
	if i := strings.LastIndex(e.Reason, " (ref "); i >= 0 {
		e.Reason = e.Reason[:i]
		e.Public = e.Reason
	}
	if se.Code >= 500 {
		e.Class = diag.Permanent
	}
	if se.cause != nil {
		// The delivery's own error (the refusal it would have bounced
		// with): its reason, path and fix, under this refusal's ref.
		c := *se.cause
		c.Ref, c.SMTPCode, c.Enhanced, c.Public, c.Class = ref, e.SMTPCode, e.Enhanced, e.Public, e.Class
		return &c
	}
	return e
}

// refused tells the server's observer about one refusal, within the
// journal's bound (flood.go): kind tells refusals apart ("" for the
// reply's words, replyKind); from is the sender (at MAIL, the one
// refused). It returns the reply to send, rep or rep with the ref it
// shares with earlier ones, and whether this one was observed in full:
// only then does the caller log it.
func (s *session) refused(stage, kind, from string, rep *Reply, d *diag.Error, to []string, size int64) (*Reply, bool) {
	if kind == "" {
		kind = replyKind(stage, rep)
	}
	return s.srv().refusal(kind, s.refusalOf(stage, from, rep, d, to, size), rep)
}

// observe tells the observer about a refusal outside the bound: a
// verdict after DATA, journaled already with its queue id.
func (s *session) observe(stage, from string, rep *Reply, d *diag.Error, to []string, size int64) {
	if obs := s.srv().onRefusal; obs != nil {
		obs(s.refusalOf(stage, from, rep, d, to, size))
	}
}

func (s *session) refusalOf(stage, from string, rep *Reply, d *diag.Error, to []string, size int64) Refusal {
	return Refusal{Time: s.srv().bound.now(), Stage: stage, Code: rep.Code, Enhanced: rep.Enhanced, Text: rep.Message,
		Err: d, ConnID: s.info.ConnID, Kind: s.info.Kind, RemoteIP: s.info.RemoteIP, Helo: s.info.Helo,
		AuthUser: s.info.AuthUser, From: from, To: to, Size: size}
}

// refusedAuth tells the observer of a login answered with a ref (our
// trouble kept it from being checked, or the guard or the checks' bound
// refused it), within the journal's bound like refused.
func (s *session) refusedAuth(kind, account string, rep *Reply, d *diag.Error) (*Reply, bool) {
	return s.srv().refusal(kind, Refusal{Time: s.srv().bound.now(), Stage: "auth", Code: rep.Code, Enhanced: rep.Enhanced, Text: rep.Message,
		Err: d, ConnID: s.info.ConnID, Kind: s.info.Kind, RemoteIP: s.info.RemoteIP, Helo: s.info.Helo, Account: account}, rep)
}
