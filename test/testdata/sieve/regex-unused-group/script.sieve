require ["regex", "variables", "fileinto"];
if header :regex "subject" "^(Your)( nothing)?(.*)$" { fileinto "[${1}][${2}][${3}]"; }
