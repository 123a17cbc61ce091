require "regex";
if header :regex "subject" "^invoice" { discard; }
