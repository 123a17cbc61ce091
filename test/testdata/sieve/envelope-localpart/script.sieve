require "envelope";
if envelope :localpart :matches "from" "al*" { discard; }
