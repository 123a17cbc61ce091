require "include";
include :personal "work";
