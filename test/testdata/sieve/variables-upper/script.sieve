require ["variables", "fileinto"];
set :upper "x" "MiXeD";
fileinto "${x}";
