require ["variables", "fileinto"];
set :upperfirst "x" "mixed case";
fileinto "${x}";
