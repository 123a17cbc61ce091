require "variables";
set "h" "subject";
if header :contains "${h}" "invoice" { discard; }
