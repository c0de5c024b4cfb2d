"""Import of the councils' registry files into Sésame (console script `registry-import`)."""
