require ["environment", "fileinto"];
if environment :matches "host" "?*" { fileinto "h"; }
