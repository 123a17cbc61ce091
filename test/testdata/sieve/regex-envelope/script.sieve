require ["regex", "envelope"];
if envelope :regex "from" "^[a-z]+@" { discard; }
