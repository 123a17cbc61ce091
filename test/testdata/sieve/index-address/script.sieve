require ["index", "fileinto"];
if address :index 2 :is "to" "team@example.com" { fileinto "team"; }
if address :index 1 :last :is "from" "boss@example.com" { fileinto "boss"; }
