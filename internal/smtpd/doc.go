// Package smtpd is ebb's SMTP service: its own server side of the protocol
// (RFC 5321 and the extensions ebb offers), the listeners, their limits,
// the sessions, and the hand-off of each message to the queue.
// docs/serve.md says why ebb owns its SMTP server.
//
// Like Postfix's smtpd, it never delivers: a message is streamed once into
// the spool (the queue's hand-off, queue.Receiver: durable before it
// returns), and only then does
// the client get its 250. Our own trouble (a full disk, an unwritable spool,
// an unreachable directory) is a 4xx with a reference id that the log line
// carries too; a remote client never sees a local path.
//
// # Files
//
//   - server.go: Server, Options, Bind/Serve/Shutdown, connection limits.
//   - listener.go: Listener and its Kind; Accept with the per-IP and total
//     limits.
//   - conn.go: the connection wrapper (connection id, slot, busy flag).
//   - proto.go: the protocol engine (ServeConn, Handler, Protocol): reads
//     commands, sequences them, writes replies; proto_mail.go the
//     transaction (HELO/EHLO, MAIL, RCPT, DATA, BDAT), proto_auth.go
//     STARTTLS and AUTH.
//   - command.go, params.go: the command parser (paths, MAIL and RCPT
//     parameters); dotreader.go: the DATA reader (bulk, dot-unstuffing).
//   - session.go: ebb's Handler: MAIL, RCPT, DATA → the queue
//     (spool.go: the envelope handed over).
//   - barelf.go: bare LF in DATA becomes CRLF in the spool.
//   - policy.go: the Policy interface and InboundPolicy (hosted domains
//     and existing recipients only; never relays).
//   - received.go: the Received header (RFC 5321 §4.4).
//   - tls.go: certificates, reloadable on SIGHUP.
//
// # Adding submission (issue 5)
//
// Submission plugs in without changing these files:
//
//   - Add Listener values of Kind Submission (587, STARTTLS) and
//     SubmissionTLS (465, ImplicitTLS: true) to Config.Listeners, with a
//     per-listener TLS certificate when submission.tls_cert is set.
//   - Give them an Authenticator (put it in auth.go): Mechanisms says what
//     to offer, Server returns a go-sasl server whose callback checks the
//     directory and, on success, calls SessionInfo.SetAuthUser. The
//     engine offers AUTH only over TLS.
//   - Give them a Policy (submission_policy.go) that requires
//     SessionInfo.AuthUser (or a trusted network via SessionInfo.RemoteIP),
//     checks the sender against the user's addresses (553 5.7.1), and
//     accepts remote recipients. InboundPolicy stays the policy of port 25
//     and never relays.
//   - The Received header already says ESMTPA/ESMTPSA when AuthUser is set.
package smtpd
