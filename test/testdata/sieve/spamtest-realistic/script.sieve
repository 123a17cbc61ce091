require ["spamtest", "virustest", "relational", "comparator-i;ascii-numeric", "fileinto", "imap4flags"];
if virustest :value "ge" :comparator "i;ascii-numeric" "5" { discard; stop; }
if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { addflag "$Junk"; fileinto "Junk"; stop; }
