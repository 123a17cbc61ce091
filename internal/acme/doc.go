// Package acme obtains and renews ebb's TLS certificates from an ACME CA
// (RFC 8555, e.g. Let's Encrypt) with golang.org/x/crypto/acme, so that a
// new mail host needs no certbot: the server's name (STARTTLS, submission,
// the TLSA record) and the mta-sts./autoconfig. names of each hosted domain.
//
// Why not x/crypto's autocert: it orders on the first TLS handshake, keeps
// its state opaque, has no DNS-01, and says nothing when a renewal fails.
// ebb must say what the CA said (principle 1), renew before expiry with a
// backoff the CA's limits allow, keep a pre-made next key so that a TLSA
// record can be published before a rollover, and show every certificate's
// expiry in a metric, on the queue page and in doctor.
//
// On disk (acme.dir, owned by server.user, written with internal/safeio):
//
//	account.key                 the ACME account's key (0600)
//	certs/NAME/cert.pem         the certificate chain, leaf first
//	certs/NAME/key.pem          its private key (0600)
//	certs/NAME/next-key.pem     the key of the next renewal (0600), for TLSA
//	certs/NAME/state.json       names, validity, the last attempt and the
//	                            CA's problem document when it failed
//
// A Manager runs in ebb serve: Run orders what is missing or due, one order
// at a time; GetCertificate and HTTPHandler answer the CA's tls-alpn-01 and
// http-01 challenges and serve the certificates. ReadStates reads the same
// files for doctor, without a CA.
//
//	m, err := acme.New(opts)         // loads the account key and the certificates
//	m.SetWanted(sets)                // which names, grouped by certificate
//	go m.Run(ctx)                    // orders and renews; failures in m.States()
//
// A failed order is a *diag.Error carrying the CA's problem document
// (type, detail, subproblems) and a hint for its type; it is logged, kept in
// state.json, and retried after acme.retry_min, doubling up to
// acme.retry_max.
package acme
