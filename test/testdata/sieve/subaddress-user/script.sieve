require ["subaddress", "envelope"];
if envelope :user :is "to" "bob" { discard; }
