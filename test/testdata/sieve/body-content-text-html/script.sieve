require "body";
if body :content "text/html" :contains "<b>order</b>" { discard; }
