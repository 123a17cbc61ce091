require "include";
include "work";
