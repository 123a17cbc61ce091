if false { discard; } elsif true { redirect "b@example.net"; } else { keep; }
