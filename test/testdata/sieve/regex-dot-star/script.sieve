require "regex";
if header :regex "x-empty" ".*" { discard; }
