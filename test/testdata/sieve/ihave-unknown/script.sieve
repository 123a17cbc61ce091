require "ihave";
if ihave "vnd.example.teleport" { teleport "mars"; } else { discard; }
