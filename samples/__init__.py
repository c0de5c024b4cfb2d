"""Sample relying parties that `make run` starts next to the IdP (not part of the product)."""
