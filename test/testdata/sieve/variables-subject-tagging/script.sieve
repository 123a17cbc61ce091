require ["variables", "fileinto"];
if header :matches "list-id" "*<*.*.*>" { fileinto "Lists.${2}"; }
