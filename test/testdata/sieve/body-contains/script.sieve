require "body";
if body :contains "invoice details" { discard; }
