package sieve

import (
	"github.com/emersion/go-message"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

func init() {
	// go-message decodes text parts through this hook (the body test):
	// the charsets are mailhdr's, the ones encoded words are decoded with.
	message.CharsetReader = mailhdr.CharsetReader
}
