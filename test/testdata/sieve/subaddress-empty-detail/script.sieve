require ["subaddress", "fileinto"];
if address :detail :is "cc" "" { fileinto "empty-detail"; }
