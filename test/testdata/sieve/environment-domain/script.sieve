require ["environment", "fileinto"];
if environment :contains "domain" "" { fileinto "d"; }
