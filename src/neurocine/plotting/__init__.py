"""Figures (matplotlib is imported lazily, inside each function)."""
