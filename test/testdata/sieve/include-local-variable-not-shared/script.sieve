require ["include", "variables", "fileinto"];
set "box" "Local";
include "user";
