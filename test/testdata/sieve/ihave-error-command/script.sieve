require "ihave";
error "Deliberate failure";
