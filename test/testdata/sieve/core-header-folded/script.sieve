if header :is "x-folded" "first part  second part" { discard; } elsif header :contains "x-folded" "second" { redirect "folded@example.net"; }
