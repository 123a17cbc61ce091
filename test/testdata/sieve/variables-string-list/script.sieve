require "variables";
if string :matches ["x", "yz"] "y?" { discard; }
