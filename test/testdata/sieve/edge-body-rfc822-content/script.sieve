require ["body", "fileinto"];
if body :content "message/rfc822" :contains "zebras" { fileinto "inner"; }
