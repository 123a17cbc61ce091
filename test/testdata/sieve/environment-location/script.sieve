require ["environment", "fileinto"];
if environment :is "location" "MS" { fileinto "ms"; }
