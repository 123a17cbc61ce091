require "regex";
if address :domain :regex "from" "^example\\.(org|net)$" { discard; }
