require "body";
if body :content "text/plain" :contains "<b>" { discard; }
