if header :matches "subject" "Your\\*" { discard; } else { redirect "nostar@example.net"; }
