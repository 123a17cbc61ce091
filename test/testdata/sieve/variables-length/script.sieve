require ["variables", "fileinto"];
set :length "x" "hello";
fileinto "len-${x}";
