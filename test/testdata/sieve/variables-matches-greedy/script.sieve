require ["variables", "fileinto"];
if header :matches "from" "*e*" { fileinto "${1}|${2}"; }
