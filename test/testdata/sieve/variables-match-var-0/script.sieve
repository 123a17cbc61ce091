require ["variables", "fileinto"];
if header :matches "subject" "*42" { fileinto "all-${0}"; }
