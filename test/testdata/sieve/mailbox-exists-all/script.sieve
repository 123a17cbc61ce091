require ["mailbox", "fileinto"];
if mailboxexists ["Existing", "Lists.kernel"] { fileinto "both"; }
if mailboxexists ["Existing", "Nope"] { fileinto "not-both"; }
