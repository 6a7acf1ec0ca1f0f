"""Exception types raised by DeepProduct for bad input.

Every error names the file (or folder) it is about and what is wrong with it,
so that a user never has to read a traceback from inside a library.
"""


class DeepProductError(Exception):
    """Base class of every error DeepProduct raises on purpose."""


class DatasetError(DeepProductError, ValueError):
    """A dataset folder does not follow the standard layout; the message lists every problem."""
