if header :comparator "i;unknown" :is "subject" "x" { keep; }
