require "vacation";
vacation text:
I am away.

For urgent matters write to carol@example.net.
.
;
