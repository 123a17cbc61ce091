package msgauth

import (
	"errors"
	"io"
	"os"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// MaxHeaderBytes bounds the header DKIM holds in memory, to verify and to
// sign (go-msgauth canonicalizes the header whole). Real headers are a few
// KiB (a long Received chain is 20 KiB); the signatures of a message whose
// header is larger are not verified (dkim=permerror, said so), and such a
// message is not signed. DMARC reads the From: of any header.
const MaxHeaderBytes = 1 << 20

// errHeaderTooLarge: the header passed MaxHeaderBytes.
var errHeaderTooLarge = errors.New("the message header is larger than 1 MiB")

// headerFacts is what the checks take from the header, read in one pass
// of mailhdr's Scanner (the reader every part of ebb uses): the authors
// (DMARC's RFC5322.From) and the DKIM-Signature fields' tags.
type headerFacts struct {
	authors mailhdr.Authors
	sigs    []map[string]string // the first max signatures' tags, in order
	nsigs   int                 // how many DKIM-Signature fields there are
	size    int64               // the header's size in bytes
}

// readFacts reads the header of the message at path, whatever its size
// (field by field, MaxField bytes of one at most); hidden are From:
// fields found below it when it was stored.
func readFacts(path string, max int, hidden []string) (headerFacts, error) {
	var h headerFacts
	f, err := os.Open(path)
	if err != nil {
		return h, err
	}
	defer f.Close()
	br := bufpool.Reader(f)
	defer bufpool.PutReader(br)
	s := mailhdr.NewScanner(br)
	var a mailhdr.AuthorsScan
	for s.Scan() {
		fl := s.Field()
		a.Add(fl)
		if fl.Is("DKIM-Signature") {
			h.nsigs++
			if len(h.sigs) < max {
				h.sigs = append(h.sigs, parseTags(fl.Value()))
			}
		}
	}
	h.size = s.Offset()
	a.Lax(s)
	for _, v := range hidden {
		a.AddHidden(v)
	}
	h.authors = a.Authors()
	return h, s.Err()
}

// maxBlankRun bounds a run of line ends and white space in a body being
// verified: go-msgauth's relaxed body canonicalizer holds such a run in
// memory until it knows whether text follows (trailing empty lines are
// not hashed, RFC 6376 §3.4.4), so a body of 50 MiB of empty lines would
// be held whole, once per signature.
const maxBlankRun = 1 << 20

// errBlankRun says why such a body is not verified.
var errBlankRun = errors.New("the body has more than 1 MiB of consecutive empty lines or white space; not verified")

// blankRunReader ends the stream (io.EOF, and over set) once a run of CR,
// LF, SP and HT passes maxBlankRun. It ends it rather than failing it:
// go-msgauth's parallel verification leaves its goroutines blocked when
// the reader fails, while an early end only makes the body hashes differ.
// A read error ends the stream the same way and is kept in err: it is our
// trouble (temperror), not the message's.
type blankRunReader struct {
	r    io.Reader
	run  int
	over bool
	err  error
}

func (b *blankRunReader) Read(p []byte) (int, error) {
	if b.over || b.err != nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
		err = io.EOF
	}
	for i, c := range p[:n] {
		switch c {
		case '\r', '\n', ' ', '\t':
			b.run++
			if b.run > maxBlankRun {
				b.over = true
				return i, io.EOF
			}
		default:
			b.run = 0
		}
	}
	return n, err
}
