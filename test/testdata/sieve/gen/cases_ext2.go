package main

// include, date/index, mailbox, duplicate, editheader, spamtest/virustest,
// environment, ihave.

var (
	spamOpts = []string{
		"plugin/sieve_spamtest_status_type=score",
		"plugin/sieve_spamtest_status_header=X-Spam-Score: score=(-?[0-9.]+)",
		"plugin/sieve_spamtest_max_value=10",
		"plugin/sieve_virustest_status_type=score",
		"plugin/sieve_virustest_status_header=X-Virus-Scan: [a-z]+ level=([0-9])",
		"plugin/sieve_virustest_max_value=5",
	}
	// What ebb's scanner glue computes from those headers (Pigeonhole:
	// spam 1+9*ratio, percent 100*ratio, virus 1+4*ratio, truncated).
	spamEbb    = []string{"--spam-score=7", "--spam-percent=75", "--virus-score=4"}
	hamEbb     = []string{"--spam-score=1", "--spam-percent=5", "--virus-score=1"}
	untested   = []string{"--spam-score=0", "--spam-percent=-1", "--virus-score=0"}
	spamExt    = "+spamtest +virustest"
	spamPlus   = "+spamtestplus +virustest"
	envMS      = []string{"--env=location=MS", "--env=phase=post", "--env=domain=mx.example.com", "--env=host=mx.example.com"}
	incPersona = map[string]string{
		"work":     "require \"fileinto\";\nif address :domain :is \"from\" \"example.org\" { fileinto \"Work\"; }\n",
		"stopper":  "require \"fileinto\";\nfileinto \"Stopped\";\nstop;\n",
		"returner": "require [\"include\", \"fileinto\"];\nif true { return; }\nfileinto \"Unreachable\";\n",
		"setter":   "require [\"include\", \"variables\"];\nglobal \"box\";\nset \"box\" \"FromInclude\";\n",
		"user":     "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"box\";\nfileinto \"${box}\";\n",
		"once":     "require \"fileinto\";\nfileinto \"Once\";\n",
		"broken":   "require \"fileinto\";\nfileinto \"x\"\n",
		"loop-a":   "require \"include\";\ninclude \"loop-b\";\n",
		"loop-b":   "require \"include\";\ninclude \"loop-a\";\n",
		"twice":    "require [\"include\", \"variables\"];\nglobal \"n\";\nset \"n\" \"${n}x\";\n",
	}
	incGlobal = map[string]string{
		"spam": "require \"fileinto\";\nif header :is \"x-spam-status\" \"Yes\" { fileinto \"Junk\"; }\n",
		"work": "require \"fileinto\";\nfileinto \"GlobalWork\";\n",
	}
)

func init() {
	add(
		Case{Name: "include-personal", Desc: "include :personal runs the named script", Script: "require \"include\";\ninclude :personal \"work\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-default-personal", Desc: "include without a location is :personal", Script: "require \"include\";\ninclude \"work\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-global", Desc: "include :global", Script: "require \"include\";\ninclude :global \"spam\";\n", Msg: "spam", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-same-name-two-locations", Desc: "personal and global scripts of the same name are distinct", Script: "require \"include\";\ninclude :personal \"work\";\ninclude :global \"work\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-optional-missing", Desc: ":optional skips a missing script", Script: "require [\"include\", \"fileinto\"];\ninclude :optional \"absent\";\nfileinto \"After\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-missing", Desc: "a missing script without :optional is a compile error", Script: "require \"include\";\ninclude \"absent\";\n", Personal: incPersona, Global: incGlobal, Want: "compile"},
		Case{Name: "include-stop-ends-all", Desc: "stop in an included script ends the whole run", Script: "require [\"include\", \"fileinto\"];\ninclude \"stopper\";\nfileinto \"AfterInclude\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-return", Desc: "return ends only the included script", Script: "require [\"include\", \"fileinto\"];\ninclude \"returner\";\nfileinto \"AfterReturn\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-return-main", Desc: "return in the main script ends it", Script: "require [\"include\", \"fileinto\"];\nfileinto \"Before\";\nreturn;\nfileinto \"After\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-global-variables", Desc: "global variables are shared with included scripts", Script: "require [\"include\", \"variables\"];\nglobal \"box\";\ninclude \"setter\";\ninclude \"user\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-local-variable-not-shared", Desc: "a non-global variable is not seen by the included script", Script: "require [\"include\", \"variables\", \"fileinto\"];\nset \"box\" \"Local\";\ninclude \"user\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-once", Desc: ":once includes a script only once", Script: "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"n\";\ninclude :once \"twice\";\ninclude :once \"twice\";\nfileinto \"n-${n}\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-twice-without-once", Desc: "without :once a script runs each time", Script: "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"n\";\ninclude \"twice\";\ninclude \"twice\";\nfileinto \"n-${n}\";\n", Personal: incPersona, Global: incGlobal},
		Case{Name: "include-broken", Desc: "an included script with a syntax error fails the compile", Script: "require \"include\";\ninclude \"broken\";\n", Personal: incPersona, Global: incGlobal, Want: "compile"},
		Case{Name: "include-loop", Desc: "a recursive include is an error", Script: "require \"include\";\ninclude \"loop-a\";\n", Personal: incPersona, Global: incGlobal, Want: "compile"},
		Case{Name: "include-global-without-variables", Desc: "global needs variables", Script: "require \"include\";\nglobal \"x\";\n", Personal: incPersona, Global: incGlobal, Want: "compile"},
		Case{Name: "include-bad-name", Desc: "a script name with a slash is invalid", Script: "require \"include\";\ninclude \"../etc/passwd\";\n", Personal: incPersona, Global: incGlobal, Want: "compile"},

		Case{Name: "date-year", Desc: "date year part", Script: "require \"date\";\nif date :is \"date\" \"year\" \"2016\" { discard; }\n", Msg: "dates"},
		Case{Name: "date-month-day", Desc: "date month and day in the original zone", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"month\" \"*\" { set \"m\" \"${1}\"; }\nif date :originalzone :matches \"date\" \"day\" \"*\" { set \"d\" \"${1}\"; }\nfileinto \"${m}-${d}\";\n", Msg: "dates"},
		Case{Name: "date-zone-utc-moves-day", Desc: ":zone +0000 moves the date past midnight (leap day to March)", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0000\" :matches \"date\" \"date\" \"*\" { fileinto \"${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-originalzone", Desc: ":originalzone keeps the header's zone", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"date\" \"*\" { fileinto \"${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-zone-part", Desc: "the zone part", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"zone\" \"*\" { fileinto \"z${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-weekday", Desc: "weekday (0 = Sunday) in UTC", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0000\" :matches \"date\" \"weekday\" \"*\" { fileinto \"wd${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-time", Desc: "time part in the original zone", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"time\" \"*\" { fileinto \"t${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-hour-zone", Desc: "hour in +0900", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0900\" :matches \"date\" \"hour\" \"*\" { fileinto \"h${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-iso8601", Desc: "iso8601 part", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0000\" :matches \"date\" \"iso8601\" \"*\" { fileinto \"${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-julian", Desc: "julian day", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"julian\" \"*\" { fileinto \"j${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-std11", Desc: "std11 part", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0000\" :matches \"date\" \"std11\" \"*\" { fileinto \"${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-second-minute", Desc: "minute and second parts", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"minute\" \"*\" { set \"mi\" \"${1}\"; }\nif date :originalzone :matches \"date\" \"second\" \"*\" { fileinto \"${mi}m${1}s\"; }\n", Msg: "dates"},
		Case{Name: "date-relational", Desc: "date with :value", Script: "require [\"date\", \"relational\"];\nif date :value \"ge\" :originalzone \"date\" \"date\" \"2016-02-01\" { discard; }\n", Msg: "dates"},
		Case{Name: "date-other-header", Desc: "date on Resent-Date without seconds", Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"resent-date\" \"iso8601\" \"*\" { fileinto \"${1}\"; }\n", Msg: "dates"},
		Case{Name: "date-bad-header", Desc: "an unparsable date never matches", Script: "require \"date\";\nif date :matches \"x-bad-date\" \"year\" \"*\" { discard; }\n", Msg: "dates"},
		Case{Name: "date-missing-header", Desc: "date on a missing header is false", Script: "require \"date\";\nif date :matches \"date\" \"year\" \"*\" { discard; }\n", Msg: "nodate"},
		Case{Name: "date-bad-part", Desc: "an unknown date part is only a warning in Pigeonhole; the test is false", Script: "require \"date\";\nif date \"date\" \"fortnight\" \"1\" { discard; }\n"},
		Case{Name: "currentdate-year", Desc: "currentdate year is after 2020", Script: "require [\"date\", \"relational\"];\nif currentdate :value \"ge\" \"year\" \"2020\" { discard; }\n"},
		Case{Name: "currentdate-zone", Desc: "currentdate :zone parses", Script: "require [\"date\", \"relational\"];\nif currentdate :zone \"+0000\" :value \"gt\" \"date\" \"2020-01-01\" { discard; }\n"},
		Case{Name: "index-header", Desc: "header :index 2 picks the second field", Script: "require [\"index\", \"fileinto\"];\nif header :index 2 :contains \"received\" \"from b.example.net\" { fileinto \"second\"; }\n", Msg: "many"},
		Case{Name: "index-last", Desc: ":index 1 :last picks the last field", Script: "require [\"index\", \"fileinto\"];\nif header :index 1 :last :contains \"received\" \"origin.example.net\" { fileinto \"first-hop\"; }\n", Msg: "many"},
		Case{Name: "index-out-of-range", Desc: ":index beyond the count is false", Script: "require \"index\";\nif header :index 9 :matches \"received\" \"*\" { discard; }\n", Msg: "many"},
		Case{Name: "index-xtag", Desc: ":index on repeated X-Tag", Script: "require [\"index\", \"variables\", \"fileinto\"];\nif header :index 2 :matches \"x-tag\" \"*\" { set \"a\" \"${1}\"; }\nif header :index 2 :last :matches \"x-tag\" \"*\" { fileinto \"${a}-${1}\"; }\n", Msg: "many"},
		Case{Name: "index-address", Desc: "address :index", Script: "require [\"index\", \"fileinto\"];\nif address :index 2 :is \"to\" \"team@example.com\" { fileinto \"team\"; }\nif address :index 1 :last :is \"from\" \"boss@example.com\" { fileinto \"boss\"; }\n", Msg: "many"},
		Case{Name: "index-date", Desc: "date :index :last on Received is not a date field, Date is", Script: "require [\"index\", \"date\", \"fileinto\"];\nif date :index 1 :originalzone \"date\" \"year\" \"2026\" { fileinto \"y\"; }\n", Msg: "many"},
		Case{Name: "index-last-without-index", Desc: ":last without :index is an error", Script: "require \"index\";\nif header :last :is \"subject\" \"x\" { discard; }\n", Msg: "many", Want: "compile"},
		Case{Name: "index-not-required", Desc: ":index without require is an error", Script: "if header :index 1 :is \"subject\" \"x\" { discard; }\n", Want: "compile"},

		Case{Name: "mailbox-create", Desc: "fileinto :create", Script: "require [\"mailbox\", \"fileinto\"];\nfileinto :create \"New.Folder\";\n"},
		Case{Name: "mailbox-exists-inbox", Desc: "INBOX always exists", Script: "require [\"mailbox\", \"fileinto\"];\nif mailboxexists \"INBOX\" { fileinto \"yes\"; }\n"},
		Case{Name: "mailbox-exists-folder", Desc: "an existing folder", Folders: []string{"Existing", "Lists.kernel"}, Script: "require [\"mailbox\", \"fileinto\"];\nif mailboxexists \"Existing\" { fileinto \"Existing\"; } else { fileinto :create \"Existing\"; }\n"},
		Case{Name: "mailbox-exists-missing", Desc: "a missing folder", Folders: []string{"Existing"}, Script: "require [\"mailbox\", \"fileinto\"];\nif mailboxexists \"Missing\" { fileinto \"Missing\"; } else { keep; }\n"},
		Case{Name: "mailbox-exists-all", Desc: "all listed folders must exist", Folders: []string{"Existing", "Lists.kernel"}, Script: "require [\"mailbox\", \"fileinto\"];\nif mailboxexists [\"Existing\", \"Lists.kernel\"] { fileinto \"both\"; }\nif mailboxexists [\"Existing\", \"Nope\"] { fileinto \"not-both\"; }\n"},
		Case{Name: "mailbox-create-with-flags-copy", Desc: ":create with :copy and :flags", Script: "require [\"mailbox\", \"fileinto\", \"copy\", \"imap4flags\"];\nfileinto :create :copy :flags \"\\\\Seen\" \"Archive\";\n"},

		Case{Name: "duplicate-first-time", Desc: "a first message is not a duplicate (sieve-test has no memory)", Script: "require \"duplicate\";\nif duplicate { discard; }\n"},
		Case{Name: "duplicate-not", Desc: "not duplicate on a new message", Script: "require [\"duplicate\", \"fileinto\"];\nif not duplicate { fileinto \"new\"; }\n"},
		Case{Name: "duplicate-handle", Desc: "duplicate :handle", Script: "require [\"duplicate\", \"fileinto\"];\nif duplicate :handle \"list\" { discard; } else { fileinto \"first\"; }\n"},
		Case{Name: "duplicate-header", Desc: "duplicate :header", Script: "require \"duplicate\";\nif duplicate :header \"subject\" :seconds 3600 { discard; }\n"},
		Case{Name: "duplicate-uniqueid", Desc: "duplicate :uniqueid with variables", Script: "require [\"duplicate\", \"variables\"];\nif header :matches \"subject\" \"*\" { set \"s\" \"${1}\"; }\nif duplicate :uniqueid \"${s}\" :last { discard; }\n"},
		Case{Name: "duplicate-no-message-id", Desc: "a message without Message-ID is never a duplicate", Script: "require \"duplicate\";\nif duplicate { discard; }\n", Msg: "nodate"},
		Case{Name: "duplicate-header-and-uniqueid", Desc: ":header and :uniqueid together are an error", Script: "require \"duplicate\";\nif duplicate :header \"subject\" :uniqueid \"x\" { discard; }\n", Want: "compile"},

		Case{Name: "editheader-add-visible", Desc: "an added header is seen by later tests", Ext: "+editheader", Script: "require [\"editheader\", \"fileinto\"];\naddheader \"X-Filtered\" \"yes\";\nif header :is \"x-filtered\" \"yes\" { fileinto \"Filtered\"; }\n"},
		Case{Name: "editheader-add-first", Desc: "addheader puts the field first", Ext: "+editheader", Script: "require [\"editheader\", \"index\", \"fileinto\"];\naddheader \"X-Tag\" \"new\";\nif header :index 1 :is \"x-tag\" \"new\" { fileinto \"first\"; }\n", Msg: "many"},
		Case{Name: "editheader-add-last", Desc: "addheader :last puts it last", Ext: "+editheader", Script: "require [\"editheader\", \"index\", \"fileinto\"];\naddheader :last \"X-Tag\" \"new\";\nif header :index 1 :last :is \"x-tag\" \"new\" { fileinto \"last\"; }\n", Msg: "many"},
		Case{Name: "editheader-delete", Desc: "deleteheader removes every occurrence", Ext: "+editheader", Script: "require [\"editheader\", \"fileinto\"];\ndeleteheader \"x-tag\";\nif not exists \"x-tag\" { fileinto \"gone\"; }\n", Msg: "many"},
		Case{Name: "editheader-delete-index", Desc: "deleteheader :index 2", Ext: "+editheader", Script: "require [\"editheader\", \"index\", \"variables\", \"fileinto\"];\ndeleteheader :index 2 \"x-tag\";\nif header :index 2 :matches \"x-tag\" \"*\" { fileinto \"second-now-${1}\"; }\n", Msg: "many"},
		Case{Name: "editheader-delete-value", Desc: "deleteheader with a value pattern", Ext: "+editheader", Script: "require [\"editheader\", \"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\ndeleteheader :matches \"x-tag\" \"g*\";\nif header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-tag\" \"2\" { fileinto \"two-left\"; }\n", Msg: "many"},
		Case{Name: "editheader-delete-last-index", Desc: "deleteheader :index 1 :last", Ext: "+editheader", Script: "require [\"editheader\", \"index\", \"fileinto\"];\ndeleteheader :index 1 :last \"x-tag\";\nif header :index 1 :last :is \"x-tag\" \"beta\" { fileinto \"beta-last\"; }\n", Msg: "many"},
		Case{Name: "editheader-received-protected", Desc: "Received may not be deleted (silently ignored)", Ext: "+editheader", Script: "require [\"editheader\", \"fileinto\"];\ndeleteheader \"received\";\nif exists \"received\" { fileinto \"still-there\"; }\n", Msg: "many"},
		Case{Name: "editheader-subject-rewrite", Desc: "a realistic filter: tag the subject", Ext: "+editheader", Script: "require [\"editheader\", \"variables\", \"fileinto\"];\nif header :matches \"subject\" \"*\" {\n  deleteheader \"subject\";\n  addheader \"Subject\" \"[SPAM] ${1}\";\n}\nif header :is \"subject\" \"[SPAM] You have WON\" { fileinto \"tagged\"; }\n", Msg: "spam"},
		Case{Name: "editheader-add-delete-same", Desc: "delete what was added", Ext: "+editheader", Script: "require [\"editheader\", \"fileinto\"];\naddheader \"X-A\" \"1\";\ndeleteheader \"X-A\";\nif not exists \"x-a\" { fileinto \"none\"; }\n"},
		Case{Name: "editheader-bad-name", Desc: "an invalid header name is a compile error", Ext: "+editheader", Script: "require \"editheader\";\naddheader \"X Bad\" \"v\";\n", Want: "compile"},
		Case{Name: "editheader-not-enabled", Desc: "editheader is off by default in Pigeonhole", Script: "require \"editheader\";\naddheader \"X-A\" \"1\";\n", Want: "compile"},
		Case{Name: "editheader-address-sees-added", Desc: "address tests see an added address header", Ext: "+editheader", Script: "require [\"editheader\", \"fileinto\"];\naddheader \"Reply-To\" \"help@example.net\";\nif address :domain :is \"reply-to\" \"example.net\" { fileinto \"rt\"; }\n"},

		Case{Name: "spamtest-ge", Desc: "spamtest :value ge 5 on a 7.5/10 score", Ext: spamExt, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\nif spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"5\" { fileinto \"Junk\"; }\n"},
		Case{Name: "spamtest-value", Desc: "the spamtest value itself", Ext: spamExt, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"spamtest\", \"variables\", \"fileinto\"];\nif spamtest :matches \"*\" { fileinto \"s${1}\"; }\n"},
		Case{Name: "spamtest-ham", Desc: "a ham score is 1", Ext: spamExt, Opts: spamOpts, Ebb: hamEbb, Msg: "ham", Script: "require [\"spamtest\", \"variables\", \"fileinto\"];\nif spamtest :matches \"*\" { fileinto \"s${1}\"; }\n"},
		Case{Name: "spamtest-untested", Desc: "no score header: 0 (not tested)", Ext: spamExt, Opts: spamOpts, Ebb: untested, Script: "require [\"spamtest\", \"variables\", \"fileinto\"];\nif spamtest :is \"0\" { fileinto \"untested\"; }\n"},
		Case{Name: "spamtestplus-percent", Desc: "spamtest :percent", Ext: spamPlus, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"spamtestplus\", \"variables\", \"fileinto\"];\nif spamtest :percent :matches \"*\" { fileinto \"p${1}\"; }\n"},
		Case{Name: "spamtestplus-percent-ge", Desc: "spamtest :percent :value ge 50", Ext: spamPlus, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\nif spamtest :percent :value \"ge\" :comparator \"i;ascii-numeric\" \"50\" { fileinto \"Junk\"; }\n"},
		Case{Name: "spamtestplus-ham-percent", Desc: "ham percent", Ext: spamPlus, Opts: spamOpts, Ebb: hamEbb, Msg: "ham", Script: "require [\"spamtestplus\", \"variables\", \"fileinto\"];\nif spamtest :percent :matches \"*\" { fileinto \"p${1}\"; }\n"},
		Case{Name: "virustest-infected", Desc: "virustest value for level 4/5", Ext: spamExt, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"virustest\", \"relational\", \"comparator-i;ascii-numeric\", \"variables\", \"fileinto\"];\nif virustest :value \"ge\" :comparator \"i;ascii-numeric\" \"4\" { fileinto \"virus\"; }\nif virustest :matches \"*\" { fileinto \"v${1}\"; }\n"},
		Case{Name: "virustest-clean", Desc: "virustest on a clean message", Ext: spamExt, Opts: spamOpts, Ebb: hamEbb, Msg: "ham", Script: "require [\"virustest\", \"variables\", \"fileinto\"];\nif virustest :matches \"*\" { fileinto \"v${1}\"; }\n"},
		Case{Name: "virustest-untested", Desc: "virustest without the header is 0", Ext: spamExt, Opts: spamOpts, Ebb: untested, Script: "require [\"virustest\", \"fileinto\"];\nif virustest :is \"0\" { fileinto \"untested\"; }\n"},
		Case{Name: "spamtest-not-enabled", Desc: "spamtest is off by default in Pigeonhole", Script: "require \"spamtest\";\nif spamtest \"1\" { discard; }\n", Want: "compile"},
		Case{Name: "spamtest-realistic", Desc: "a realistic filter: junk by score, quarantine viruses", Ext: spamExt, Opts: spamOpts, Ebb: spamEbb, Msg: "spam", Script: "require [\"spamtest\", \"virustest\", \"relational\", \"comparator-i;ascii-numeric\", \"fileinto\", \"imap4flags\"];\nif virustest :value \"ge\" :comparator \"i;ascii-numeric\" \"5\" { discard; stop; }\nif spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"6\" { addflag \"$Junk\"; fileinto \"Junk\"; stop; }\n"},

		Case{Name: "environment-location", Desc: "environment location (sieve-test: MS)", Ebb: envMS, Script: "require [\"environment\", \"fileinto\"];\nif environment :is \"location\" \"MS\" { fileinto \"ms\"; }\n"},
		Case{Name: "environment-phase", Desc: "environment phase", Ebb: envMS, Script: "require [\"environment\", \"variables\", \"fileinto\"];\nif environment :matches \"phase\" \"*\" { fileinto \"phase-${1}\"; }\n"},
		Case{Name: "environment-domain", Desc: "environment domain is known (its value is the host's, so only existence is pinned)", Ebb: envMS, Script: "require [\"environment\", \"fileinto\"];\nif environment :contains \"domain\" \"\" { fileinto \"d\"; }\n"},
		Case{Name: "environment-host", Desc: "environment host is not empty", Ebb: envMS, Script: "require [\"environment\", \"fileinto\"];\nif environment :matches \"host\" \"?*\" { fileinto \"h\"; }\n"},
		Case{Name: "environment-unknown", Desc: "an unknown item never matches", Ebb: envMS, Script: "require \"environment\";\nif environment :matches \"vnd.example.nothing\" \"*\" { discard; }\n"},
		Case{Name: "environment-name-exists", Desc: "the name item exists", Ebb: envMS, Script: "require \"environment\";\nif environment :contains \"name\" \"\" { discard; }\n"},
		Case{Name: "environment-not-required", Desc: "environment without require is an error", Script: "if environment \"location\" \"MS\" { discard; }\n", Want: "compile"},

		Case{Name: "ihave-known", Desc: "ihave a supported extension", Script: "require \"ihave\";\nif ihave \"fileinto\" { fileinto \"has\"; }\n"},
		Case{Name: "ihave-unknown", Desc: "ihave an unknown extension is false and its block may use unknown commands", Script: "require \"ihave\";\nif ihave \"vnd.example.teleport\" { teleport \"mars\"; } else { discard; }\n"},
		Case{Name: "ihave-list", Desc: "ihave with a list: all must be supported", Script: "require \"ihave\";\nif ihave [\"fileinto\", \"vnd.example.nope\"] { discard; } else { redirect \"partial@example.net\"; }\n"},
		Case{Name: "ihave-disabled", Desc: "ihave of an extension that is off (editheader) is false", Script: "require \"ihave\";\nif ihave \"editheader\" { discard; }\n"},
		Case{Name: "ihave-error-command", Desc: "the error command fails the script", Script: "require \"ihave\";\nerror \"Deliberate failure\";\n", Want: "runtime"},
		Case{Name: "ihave-not-required", Desc: "ihave without require is an error", Script: "if ihave \"fileinto\" { keep; }\n", Want: "compile"},
	)
}
