require "vacation";
vacation :days 400 "Away.";
