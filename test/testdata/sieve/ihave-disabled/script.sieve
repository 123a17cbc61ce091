require "ihave";
if ihave "editheader" { discard; }
