"""DeepProduct reference runtime: image -> tensor -> embedding -> index -> result."""
