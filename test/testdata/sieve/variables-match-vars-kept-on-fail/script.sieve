require ["variables", "fileinto"];
if header :matches "subject" "Your *" { }
if header :matches "subject" "Nope *" { }
fileinto "${1}";
