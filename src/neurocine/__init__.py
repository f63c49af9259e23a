"""neurocine: link video and neural recordings.

Features from behaviour videos and stimulus movies, encoding and decoding
models, and convolutional NMF motif discovery. ``import neurocine`` is light:
torch, matplotlib and the optional extras load only when a part that needs
them is used.
"""

from neurocine.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]
