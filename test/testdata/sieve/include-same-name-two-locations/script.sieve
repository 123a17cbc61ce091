require "include";
include :personal "work";
include :global "work";
