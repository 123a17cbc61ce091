require "environment";
if environment :matches "vnd.example.nothing" "*" { discard; }
