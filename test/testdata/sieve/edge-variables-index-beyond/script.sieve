require ["variables", "fileinto"];
if header :matches "subject" "Your *" { fileinto "[${1}][${2}][${9}]"; }
