require ["imap4flags", "fileinto"];
addflag "\\Flagged";
fileinto "Important";
