require "editheader";
addheader "X-A" "1";
