if header :is :comparator "i;octet" "subject" "YOUR INVOICE 42" { discard; }
