require ["include", "variables"];
global "box";
include "setter";
include "user";
