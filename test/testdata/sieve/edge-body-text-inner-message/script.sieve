require ["body", "fileinto"];
if body :text :contains "zebras" { fileinto "deep"; }
