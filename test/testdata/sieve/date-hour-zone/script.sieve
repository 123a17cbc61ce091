require ["date", "variables", "fileinto"];
if date :zone "+0900" :matches "date" "hour" "*" { fileinto "h${1}"; }
