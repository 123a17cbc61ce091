if false { discard; } elsif false { redirect "b@example.net"; } else { redirect "c@example.net"; }
