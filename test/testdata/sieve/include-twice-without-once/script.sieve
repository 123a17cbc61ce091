require ["include", "variables", "fileinto"];
global "n";
include "twice";
include "twice";
fileinto "n-${n}";
