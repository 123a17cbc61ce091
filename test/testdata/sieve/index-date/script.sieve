require ["index", "date", "fileinto"];
if date :index 1 :originalzone "date" "year" "2026" { fileinto "y"; }
