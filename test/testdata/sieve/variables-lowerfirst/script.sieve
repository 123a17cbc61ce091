require ["variables", "fileinto"];
set :lowerfirst "x" "MIXED";
fileinto "${x}";
