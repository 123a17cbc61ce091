require "envelope";
if envelope :contains ["from", "to"] "bob" { discard; }
