require "body";
if body :content "text" :contains "<html>" { discard; }
