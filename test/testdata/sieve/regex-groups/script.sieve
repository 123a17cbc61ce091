require ["regex", "variables", "fileinto"];
if header :regex "subject" "^(.*) invoice ([0-9]+)$" { fileinto "${2}-${1}-${0}"; }
