"""Embedder: an exported model file + its metadata -> embeddings of images.

Shaped after MediaPipe Tasks' ``ImageEmbedder``: an options dataclass, one
constructor from a model path, one verb (``embed``) and a static
``cosine_similarity``. The model file carries its preprocessing (see
``mobile_sdk.model_metadata``), so callers never restate sizes, mean or std.

``.tflite`` files run on LiteRT (``ai_edge_litert``); ``.onnx`` files on
onnxruntime when it is installed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile_sdk.errors import DeepProductError
from mobile_sdk.image_io import ImageSource
from mobile_sdk.model_metadata import ModelMetadata, read_model_metadata
from mobile_sdk.preprocess import preprocess
from mobile_sdk.preprocess_config import PreprocessConfig

QUANTIZE_SCALE = 128.0


class EmbedderError(DeepProductError, ValueError):
    """A model file cannot be run: wrong tensor shapes, missing runtime, bad file."""


@dataclass
class EmbedderOptions:
    """How an :class:`Embedder` post-processes the model output.

    Attributes:
        l2_normalize: scale every embedding to unit length. Exported DeepProduct
            models leave normalisation to the runtime (their metadata says
            ``l2_normalized_output: false``), so keep this on for retrieval.
        quantize: return int8 embeddings by scalar quantization: each component
            ``x`` becomes ``clip(round(128 * x), -128, 127)`` with halves rounded
            away from zero (C++ ``std::round``, as in MediaPipe). It assumes unit-length
            vectors (components in [-1, 1]), so use it with ``l2_normalize``.
        num_threads: CPU threads for the interpreter (>= 1).
    """

    l2_normalize: bool = True
    quantize: bool = False
    num_threads: int = 1


class Embedder:
    """Computes embeddings of images with an exported model file.

    Create it with :meth:`from_model_path`; use it as a context manager or call
    :meth:`close` to release the interpreter early.
    """

    def __init__(
        self, runner: _Runner, metadata: ModelMetadata, options: EmbedderOptions, path: Path
    ) -> None:
        self._runner = runner
        self._metadata = metadata
        self._options = options
        self._path = path

    @classmethod
    def from_model_path(
        cls, path: str | os.PathLike, options: EmbedderOptions | None = None
    ) -> Embedder:
        """Load a ``.tflite`` or ``.onnx`` model exported by ``deepproduct export``.

        Args:
            path: the model file.
            options: post-processing and threads; defaults to ``EmbedderOptions()``.

        Returns:
            A ready embedder.

        Raises:
            ModelMetadataError: the file is missing or carries no (valid) DeepProduct
                metadata.
            EmbedderError: bad options, the runtime for the format is not installed,
                the file cannot be loaded, or its input/output tensors do not match
                its metadata.
        """
        path = Path(path)
        options = options or EmbedderOptions()
        threads = options.num_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise EmbedderError(f"num_threads must be a positive int, got {threads!r}")
        metadata = read_model_metadata(path)
        if path.suffix.lower() == ".tflite":
            runner: _Runner = _TFLiteRunner(path, threads)
        else:
            runner = _OnnxRunner(path, threads)
        size = metadata.preprocess.input_size
        expected_in = (1, size, size, 3)
        if runner.input_shape != expected_in:
            raise EmbedderError(
                f"{path}: input tensor shape {runner.input_shape} does not match its "
                f"metadata (expected {expected_in}, NHWC float32)"
            )
        if runner.output_shape != (1, metadata.embedding_dim):
            raise EmbedderError(
                f"{path}: output tensor shape {runner.output_shape} does not match "
                f"embedding_dim {metadata.embedding_dim} in its metadata"
            )
        return cls(runner, metadata, options, path)

    @property
    def metadata(self) -> ModelMetadata:
        """The model's metadata (preprocessing, embedding size, fingerprint...)."""
        return self._metadata

    @property
    def fingerprint(self) -> str:
        """``"sha256:<hex>"`` of the model (an index built with it records this)."""
        return self._metadata.model_fingerprint

    @property
    def embedding_dim(self) -> int:
        """Length D of the embeddings."""
        return self._metadata.embedding_dim

    @property
    def options(self) -> EmbedderOptions:
        """The options this embedder was created with."""
        return self._options

    @property
    def path(self) -> Path:
        """The model file."""
        return self._path

    def embed(
        self,
        image: ImageSource,
        roi: tuple[int, int, int, int] | None = None,
        crop_fraction: float | None = None,
    ) -> np.ndarray:
        """Embed one image.

        Args:
            image: a path, encoded bytes, a PIL image or an H x W x 3 uint8 array;
                preprocessed by ``mobile_sdk.preprocess.preprocess`` (EXIF
                orientation, ROI, resize, crop, normalisation from the metadata).
            roi: optional ``(left, top, width, height)`` region of the oriented image.
            crop_fraction: the centre crop's share of the short side, instead of the
                metadata's (e.g. 1.0: the whole square of a square image). For extra
                index views of catalog images (``ProductIndex.build(extra_crops=...)``);
                queries use the metadata's.

        Returns:
            A (D,) float32 vector, or int8 with ``options.quantize``.

        Raises:
            ImageLoadError: the image cannot be loaded.
            ValueError: the ROI is malformed or outside the image, or ``crop_fraction``
                is not in (0, 1].
        """
        x = preprocess(image, self.preprocess_config(crop_fraction), roi=roi)
        return self.embed_input(x[None])[0]

    def embed_batch(
        self, images: Iterable[ImageSource], crop_fraction: float | None = None
    ) -> np.ndarray:
        """Embed several images: (N, D) float32 (int8 with ``quantize``), in order.

        Args:
            images: what :meth:`embed` accepts, one after another.
            crop_fraction: as for :meth:`embed`.

        Raises:
            The errors of :meth:`embed`.
        """
        rows = [self.embed(image, crop_fraction=crop_fraction) for image in images]
        if not rows:
            dtype = np.int8 if self._options.quantize else np.float32
            return np.zeros((0, self._metadata.embedding_dim), dtype)
        return np.stack(rows)

    def preprocess_config(self, crop_fraction: float | None = None) -> PreprocessConfig:
        """The metadata's preprocessing, with ``crop_fraction`` replaced when given.

        Raises:
            ValueError: ``crop_fraction`` is not a number in (0, 1].
        """
        config = self._metadata.preprocess
        if crop_fraction is None:
            return config
        return dataclasses.replace(config, crop_fraction=crop_fraction)

    def embed_input(self, inputs: np.ndarray) -> np.ndarray:
        """Embed already-preprocessed model inputs (for tools that reuse one batch).

        Args:
            inputs: float32 (N, S, S, 3), as ``preprocess`` returns them, stacked.

        Returns:
            (N, D) embeddings, post-processed per the options.

        Raises:
            ValueError: wrong shape or dtype.
        """
        size = self._metadata.preprocess.input_size
        if (
            not isinstance(inputs, np.ndarray)
            or inputs.dtype != np.float32
            or inputs.shape[1:] != (size, size, 3)
        ):
            shape = getattr(inputs, "shape", None)
            raise ValueError(f"inputs must be float32 (N, {size}, {size}, 3), got {shape}")
        raw = np.stack([self._runner.run(x[None])[0] for x in inputs]) if len(inputs) else None
        if raw is None:
            return np.zeros((0, self._metadata.embedding_dim), np.float32)
        return self._postprocess(raw.astype(np.float32, copy=False))

    def _postprocess(self, e: np.ndarray) -> np.ndarray:
        if self._options.l2_normalize:
            norms = np.linalg.norm(e, axis=1, keepdims=True)
            e = e / np.where(norms > 0, norms, 1.0).astype(np.float32)
        if self._options.quantize:
            scaled = e.astype(np.float64) * QUANTIZE_SCALE
            rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
            return np.clip(rounded, -128, 127).astype(np.int8)
        return e.astype(np.float32, copy=False)

    @staticmethod
    def cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
        """Cosine similarity of two embeddings from :meth:`embed`.

        Args:
            u, v: 1-D vectors of the same length and dtype (both float or both int8;
                int8 vectors are compared as their integer values).

        Returns:
            A float in [-1, 1].

        Raises:
            ValueError: not 1-D arrays, different sizes, a float and a quantized
                vector, or a vector with zero norm.
        """
        u = np.asarray(u)
        v = np.asarray(v)
        if u.ndim != 1 or v.ndim != 1:
            raise ValueError(f"embeddings must be 1-D, got shapes {u.shape} and {v.shape}")
        if u.shape != v.shape:
            raise ValueError(
                "cannot compute cosine similarity between embeddings of different sizes "
                f"({u.shape[0]} vs. {v.shape[0]})"
            )
        if u.dtype != v.dtype:
            raise ValueError(
                f"cannot compute cosine similarity between {u.dtype} and {v.dtype} embeddings "
                "(quantized and float embeddings do not mix)"
            )
        if not (np.issubdtype(u.dtype, np.floating) or u.dtype == np.int8):
            raise ValueError(f"embeddings must be float or int8, got {u.dtype}")
        a = u.astype(np.float64)
        b = v.astype(np.float64)
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na == 0 or nb == 0:
            raise ValueError("cannot compute cosine similarity of an embedding with zero norm")
        return float(np.clip(a @ b / (na * nb), -1.0, 1.0))

    def close(self) -> None:
        """Release the interpreter; the embedder cannot be used afterwards."""
        self._runner = _Closed()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Runner:
    """One interpreter: a (1, S, S, 3) float32 input -> (1, D) float32 output."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Closed(_Runner):
    input_shape = output_shape = ()

    def run(self, x: np.ndarray) -> np.ndarray:
        raise EmbedderError("this Embedder has been closed")


class _TFLiteRunner(_Runner):
    def __init__(self, path: Path, num_threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EmbedderError(f"{path}: LiteRT cannot load this model: {e}") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise EmbedderError(f"{path}: expected one input and one output tensor")
        if inputs[0]["dtype"] != np.float32 or outputs[0]["dtype"] != np.float32:
            raise EmbedderError(
                f"{path}: input and output must be float32, got {inputs[0]['dtype'].__name__} "
                f"and {outputs[0]['dtype'].__name__}"
            )
        self._in = inputs[0]["index"]
        self._out = outputs[0]["index"]
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"])
        self.output_shape = tuple(int(d) for d in outputs[0]["shape"])

    def run(self, x: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._in, x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out).copy()


class _OnnxRunner(_Runner):
    def __init__(self, path: Path, num_threads: int) -> None:
        try:
            import onnxruntime as ort
        except ModuleNotFoundError:
            raise EmbedderError(
                f"{path}: running .onnx models needs onnxruntime (pip install onnxruntime), "
                "or use the .tflite model"
            ) from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = num_threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=so, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise EmbedderError(f"{path}: onnxruntime cannot load this model: {e}") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise EmbedderError(f"{path}: expected one input and one output tensor")
        for t in (inputs[0], outputs[0]):
            if t.type != "tensor(float)":
                raise EmbedderError(f"{path}: tensor {t.name!r} must be float32, got {t.type}")
        self._in = inputs[0].name
        self.input_shape = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape)
        self.output_shape = tuple(d if isinstance(d, int) else -1 for d in outputs[0].shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._in: x})[0]
