require ["index", "fileinto"];
if header :index 1 :last :contains "received" "origin.example.net" { fileinto "first-hop"; }
