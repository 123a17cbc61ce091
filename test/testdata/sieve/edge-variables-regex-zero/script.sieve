require ["variables", "regex", "fileinto"];
if header :regex "subject" "inv[a-z]+" { fileinto "${0}"; }
