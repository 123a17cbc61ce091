require "regex";
if header :regex "subject" "^[0-9]+$" { discard; }
