require ["spamtest", "variables", "fileinto"];
if spamtest :is "0" { fileinto "untested"; }
