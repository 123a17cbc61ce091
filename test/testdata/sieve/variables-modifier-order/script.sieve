require ["variables", "fileinto"];
set :length :upper "x" "abc";
fileinto "${x}";
