require ["subaddress", "envelope"];
if envelope :detail :matches "to" "*" { discard; }
