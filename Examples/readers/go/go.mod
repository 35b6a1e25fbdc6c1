module mrtokenfile

go 1.19
