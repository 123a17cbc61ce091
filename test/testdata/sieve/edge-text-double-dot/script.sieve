require "reject";
reject text:
..
.
;
