require "regex";
if header :regex "subject" "(order|invoice) [[:digit:]]{2}" { discard; }
