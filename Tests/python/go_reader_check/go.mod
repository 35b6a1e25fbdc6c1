module check

go 1.19

require mrtokenfile v0.0.0

replace mrtokenfile => ../../../Examples/readers/go
