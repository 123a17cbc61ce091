require "reject";
reject text:
Not here.
Try elsewhere.
.
;
