"""Quantize and convert trained checkpoints for ARM CPUs (ONNX, TFLite)."""
