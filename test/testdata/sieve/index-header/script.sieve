require ["index", "fileinto"];
if header :index 2 :contains "received" "from b.example.net" { fileinto "second"; }
