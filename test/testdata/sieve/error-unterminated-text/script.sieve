require "reject";
reject text:
line
