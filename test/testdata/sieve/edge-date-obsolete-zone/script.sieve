require ["date", "variables", "fileinto"];
if date :zone "+0000" :matches "resent-date" "iso8601" "*" { fileinto "${1}"; }
