if header :is "cc" "\"Dave, Jr.\" <dave@example.com>" { discard; } elsif header :is "subject" "Your \invoice 42" { redirect "esc@example.net"; }
