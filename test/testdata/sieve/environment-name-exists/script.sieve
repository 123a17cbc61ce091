require "environment";
if environment :contains "name" "" { discard; }
