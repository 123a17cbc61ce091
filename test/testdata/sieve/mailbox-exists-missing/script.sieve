require ["mailbox", "fileinto"];
if mailboxexists "Missing" { fileinto "Missing"; } else { keep; }
