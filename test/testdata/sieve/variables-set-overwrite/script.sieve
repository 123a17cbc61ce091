require ["variables", "fileinto"];
set "x" "one";
set "x" "two";
fileinto "${x}";
