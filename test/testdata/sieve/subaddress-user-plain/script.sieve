require ["subaddress"];
if address :user :is "from" "alice" { discard; }
