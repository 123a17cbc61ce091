require "body";
if body :raw :contains "Caf=C3=A9" { discard; }
