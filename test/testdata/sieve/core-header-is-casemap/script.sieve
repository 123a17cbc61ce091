if header :is "Subject" "YOUR INVOICE 42" { discard; }
