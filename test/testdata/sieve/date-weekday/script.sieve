require ["date", "variables", "fileinto"];
if date :zone "+0000" :matches "date" "weekday" "*" { fileinto "wd${1}"; }
