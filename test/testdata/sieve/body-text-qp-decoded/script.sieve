require "body";
if body :text :contains "Café voucher" { discard; }
