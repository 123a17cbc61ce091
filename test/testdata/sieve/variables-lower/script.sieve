require ["variables", "fileinto"];
set :lower "x" "MiXeD";
fileinto "${x}";
