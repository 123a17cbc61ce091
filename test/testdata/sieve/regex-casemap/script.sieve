require "regex";
if header :regex "subject" "^your INVOICE" { discard; }
