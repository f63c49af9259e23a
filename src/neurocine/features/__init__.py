"""Pure transforms from raw recordings to feature matrices (time-first)."""
