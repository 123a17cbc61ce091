require "ihave";
if ihave ["fileinto", "vnd.example.nope"] { discard; } else { redirect "partial@example.net"; }
