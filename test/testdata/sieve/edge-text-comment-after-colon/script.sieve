require "reject";
reject text: # why
Go.
.
;
