require ["virustest", "variables", "fileinto"];
if virustest :matches "*" { fileinto "v${1}"; }
