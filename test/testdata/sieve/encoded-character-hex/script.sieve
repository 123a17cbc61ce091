require "encoded-character";
if header :is "subject" "${hex:59 6f 75 72} invoice 42" { discard; }
