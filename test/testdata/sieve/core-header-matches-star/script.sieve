if header :matches "subject" "*invoice*" { discard; }
