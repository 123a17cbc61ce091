require ["include", "variables", "fileinto"];
global "n";
include :once "twice";
include :once "twice";
fileinto "n-${n}";
