require ["subaddress", "fileinto"];
if address :detail :is "to" "lists" { fileinto "Lists"; }
