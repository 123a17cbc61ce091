require "variables";
set "a" "hello world";
if string :contains "${a}" "world" { discard; }
