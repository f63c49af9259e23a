"""Convolutional NMF motif discovery ("spike sorting" of multichannel time series)."""
