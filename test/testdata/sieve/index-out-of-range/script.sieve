require "index";
if header :index 9 :matches "received" "*" { discard; }
