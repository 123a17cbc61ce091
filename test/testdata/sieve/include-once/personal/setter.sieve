require ["include", "variables"];
global "box";
set "box" "FromInclude";
