if header :matches "subject" "Your invoice 42?" { discard; }
