// Package mailhdr reads the header of a stored message: the one reader
// every part of ebb uses (principle 3: one reading of every message), so
// that what DMARC judges, what DKIM signs, what Sieve tests, what
// sendmail -t sends to and what the user's mail client shows are the same
// fields, the same From:, the same decoded words.
//
// It reads RFC 5322 with everything a receiver must accept: §4's
// obsolete syntax, folding, comments and white space anywhere, groups,
// quoted local parts, domain literals, RFC 6532's UTF-8, and RFC 2047
// encoded words in any charset go-message knows (one generated table,
// charset_lookup.go). The header is streamed field by field from the
// spool or Maildir file: at most MaxField bytes of one field are held,
// whatever the size of the header or of the message.
//
//	br := bufpool.Reader(f)
//	s := mailhdr.NewScanner(br)
//	for s.Scan() {
//		f := s.Field() // f.Name, f.Value(); DecodeText(f.Value()), ParseAddressList(f.Value())
//	}
//	if err := s.Err(); err != nil { ... } // a read error; syntax is never one
//	// br is at the body, s.Offset() bytes in
//
//	a, err := mailhdr.ReadAuthors(br)  // the From: domains, for DMARC and DKIM
//	h, err := mailhdr.Read(br, 1<<20) // the whole header in memory, bounded
//
// Where the header ends, what a field is and what to do with a line that
// is none are decided in Scanner (its comment lists the rules); Filter
// rewrites a header by the same reading (dropping or renaming fields, and
// writing the empty line a header that ended at text lacks). Syntax is
// never an error: a line that is no field ends the header as Postfix's
// cleanup does, an address that cannot be read is reported beside those
// that can (*SyntaxError), a word in an unknown charset stays as written.
//
// Envelope addresses (MAIL FROM, RCPT TO, -f, -d) are internal/envaddr's;
// addresses in header fields are this package's.
package mailhdr
