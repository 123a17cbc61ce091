require ["mailbox", "fileinto"];
if mailboxexists "Existing" { fileinto "Existing"; } else { fileinto :create "Existing"; }
