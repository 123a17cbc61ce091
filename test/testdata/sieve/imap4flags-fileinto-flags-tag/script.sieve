require ["imap4flags", "fileinto"];
addflag "\\Flagged";
fileinto :flags "\\Seen" "Read";
