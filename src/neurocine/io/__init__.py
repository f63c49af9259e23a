"""Readers and writers: arrays and signals, screenome logs, result folders."""
