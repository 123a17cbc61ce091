package sieve

// AllExtensions lists every extension this package implements.
func AllExtensions() []string {
	return append([]string{}, allExtensions...)
}

var allExtensions = []string{
	"fileinto", "reject", "ereject", "envelope", "encoded-character",
	"imap4flags", "copy", "body", "variables", "vacation", "vacation-seconds",
	"relational", "comparator-i;ascii-numeric", "comparator-i;octet",
	"comparator-i;ascii-casemap", "subaddress", "regex", "include", "date",
	"index", "mailbox", "duplicate", "editheader", "spamtest", "spamtestplus",
	"virustest", "environment", "ihave",
}

// DefaultExtensions is used when Options.Extensions is nil: everything this
// package implements (issue 6 asks for all of them).
var DefaultExtensions = AllExtensions()

// PigeonholeDefaultExtensions are the extensions Pigeonhole enables without
// configuration (sieve-extensions.c), restricted to the ones implemented
// here; vacation-seconds, spamtest, spamtestplus, virustest and editheader
// need explicit configuration there, and ereject is not compiled in.
var PigeonholeDefaultExtensions = []string{
	"fileinto", "reject", "envelope", "encoded-character", "vacation",
	"subaddress", "comparator-i;ascii-numeric", "comparator-i;octet",
	"comparator-i;ascii-casemap", "relational", "regex", "imap4flags", "copy",
	"include", "body", "variables", "environment", "mailbox", "date", "index",
	"ihave", "duplicate",
}

func knownExtension(e string) bool {
	for _, x := range allExtensions {
		if x == e {
			return true
		}
	}
	return false
}

// DefaultProtectedHeaders may not be added or deleted by editheader
// (RFC 5293 §6: Received and Auto-Submitted MUST be protected; these are
// Pigeonhole's defaults too).
var DefaultProtectedHeaders = []string{"Received", "Auto-Submitted"}
