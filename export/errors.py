"""Errors of the export step; each names the file or folder it is about."""

from __future__ import annotations

from mobile_sdk.errors import DeepProductError


class ExportError(DeepProductError):
    """Base class of export failures."""


class ConversionError(ExportError, RuntimeError):
    """A converter or quantizer failed; the message names the output and the tool."""


class CalibrationError(ExportError, ValueError):
    """The calibration images cannot be used (folder missing, empty, unreadable)."""


class AccuracyGuardError(ExportError):
    """The int8 model lost more retrieval accuracy than allowed (``--strict``)."""
