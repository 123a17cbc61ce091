require ["variables", "fileinto"];
set :upperfirst :lower "x" "hELLO";
fileinto "${x}";
