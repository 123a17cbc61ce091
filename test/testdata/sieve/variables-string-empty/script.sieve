require "variables";
if string :is "${unset}" "" { discard; }
