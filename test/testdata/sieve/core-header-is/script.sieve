if header :is "subject" "Your invoice 42" { discard; }
