require ["date", "variables", "fileinto"];
if date :originalzone :matches "resent-date" "iso8601" "*" { fileinto "${1}"; }
