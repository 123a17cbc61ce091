require "envelope";
if envelope :all :matches "to" "*@example.com" { discard; }
