if header :comparator "i;octet" :is "subject" "Your invoice 42" { discard; }
