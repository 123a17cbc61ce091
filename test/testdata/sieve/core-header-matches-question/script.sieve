if header :matches "subject" "Your invoice ??" { discard; }
