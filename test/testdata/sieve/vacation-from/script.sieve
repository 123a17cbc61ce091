require "vacation";
vacation :from "bob@example.com" "Away.";
