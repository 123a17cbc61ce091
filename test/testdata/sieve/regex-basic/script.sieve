require "regex";
if header :regex "subject" "invoice [0-9]+" { discard; }
