require ["variables", "fileinto"];
set :quotewildcard "x" "a*b?c\\d";
fileinto "${x}";
