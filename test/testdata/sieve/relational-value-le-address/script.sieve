require "relational";
if address :localpart :value "le" "from" "bob" { discard; }
