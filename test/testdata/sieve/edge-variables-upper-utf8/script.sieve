require ["variables", "fileinto"];
set :upper "x" "grüße";
fileinto "${x}";
