require ["envelope", "fileinto"];
if envelope :localpart :is "to" "postmaster" { fileinto "Admin"; }
