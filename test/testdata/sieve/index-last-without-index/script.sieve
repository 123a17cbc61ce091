require "index";
if header :last :is "subject" "x" { discard; }
