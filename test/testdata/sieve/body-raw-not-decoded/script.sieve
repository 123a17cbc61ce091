require "body";
if body :raw :contains "Café" { discard; }
