require "body";
if body :matches "*Total: 42 EUR*" { discard; }
