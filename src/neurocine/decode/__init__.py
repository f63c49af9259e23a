"""Decoding and reconstruction from neural activity."""
