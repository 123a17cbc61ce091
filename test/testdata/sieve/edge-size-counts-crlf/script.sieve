if size :over 730 { discard; }
