require "vacation";
vacation :days "seven" "Away.";
