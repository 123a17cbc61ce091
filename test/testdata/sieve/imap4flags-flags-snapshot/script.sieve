require ["imap4flags", "fileinto"];
addflag "\\Seen";
fileinto "One";
addflag "\\Flagged";
fileinto "Two";
