require "body";
if body :contains "INVOICE DETAILS" { discard; }
