if size :over 1G { discard; }
