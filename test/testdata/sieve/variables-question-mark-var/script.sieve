require ["variables", "fileinto"];
if header :matches "subject" "Your invoice ?*" { fileinto "d-${1}-${2}"; }
