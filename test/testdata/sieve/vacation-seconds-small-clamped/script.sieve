require "vacation-seconds";
vacation :seconds 30 "Away.";
