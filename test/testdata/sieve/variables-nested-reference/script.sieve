require ["variables", "fileinto"];
set "x" "y";
set "y" "z";
fileinto "[${${x}}]";
