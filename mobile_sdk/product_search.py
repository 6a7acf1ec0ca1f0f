"""ProductSearch: a model and the index built with it -> products for a photo.

The Python twin of the Android core's ``com.deepproduct.core.ProductSearch``: it checks
once, when built, that the index belongs to the model (same fingerprint, same
dimension), so a mismatched pair fails at start-up with the same error on both sides
rather than at the first query.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mobile_sdk.embedder import Embedder, EmbedderOptions
from mobile_sdk.image_io import ImageSource

if TYPE_CHECKING:
    from mobile_sdk.approx_index import ApproxIndex
from mobile_sdk.index import (
    IndexFormatError,
    ProductIndex,
    SearchResult,
    fingerprint_mismatch,
    normalize_fingerprint,
)


def check_pairing(embedder: Embedder, index: ProductIndex | ApproxIndex) -> None:
    """Refuse an index (or any catalog with ``fingerprint``, ``dim``, ``source``) of another model.

    Raises:
        FingerprintMismatchError: the index was built with another model.
        IndexFormatError: the index dimension differs from the model's embedding size.
    """
    expected = normalize_fingerprint(embedder.fingerprint)
    if expected != index.fingerprint:
        raise fingerprint_mismatch(index, expected)
    if index.dim != embedder.embedding_dim:
        # same fingerprint, other length: a hand-made or tampered index
        raise IndexFormatError(
            f"{index.source}: index dimension {index.dim} differs from the model's "
            f"embedding_dim {embedder.embedding_dim}; rebuild the index with this model"
        )


class ProductSearch:
    """Photo -> the ``k`` best-matching catalog products.

    Args:
        embedder: the model that embeds the query photos.
        index: the product index, built with the same model, or an approximate index
            over one (``mobile_sdk.approx_index.ApproxIndex``, for large catalogs).

    Raises:
        FingerprintMismatchError: the index was built with another model.
        IndexFormatError: the index dimension differs from the model's embedding size.
    """

    def __init__(self, embedder: Embedder, index: ProductIndex | ApproxIndex) -> None:
        check_pairing(embedder, index)
        self._embedder = embedder
        self._index = index

    @classmethod
    def from_files(
        cls,
        model_path: str | os.PathLike,
        index_path: str | os.PathLike,
        options: EmbedderOptions | None = None,
    ) -> ProductSearch:
        """Load a model (``.tflite`` / ``.onnx``) and the index file built with it.

        Raises:
            ModelMetadataError, EmbedderError: the model cannot be loaded.
            IndexFormatError: the index file is missing, corrupt, or not this model's
                (``FingerprintMismatchError``).
        """
        embedder = Embedder.from_model_path(model_path, options)
        try:
            index = ProductIndex.load(index_path, expected_fingerprint=embedder.fingerprint)
            return cls(embedder, index)
        except BaseException:
            embedder.close()
            raise

    @property
    def embedder(self) -> Embedder:
        """The model that embeds the queries."""
        return self._embedder

    @property
    def index(self) -> ProductIndex:
        """The product index."""
        return self._index

    def embed(self, image: ImageSource) -> np.ndarray:
        """The query embedding of ``image`` (a path, PIL image or array; see ``image_io``).

        Raises:
            ImageLoadError: the image cannot be read.
        """
        return self._embedder.embed(image)

    def search(
        self, image: ImageSource, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """Up to ``k`` products for a photo, best first; an empty list means "no match".

        Args:
            image: the query photo.
            k: at most this many results.
            min_score: results scoring below this cosine are dropped (the "no match"
                threshold).

        Raises:
            ImageLoadError: the image cannot be read.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        return self._index.search(self.embed(image), k=k, min_score=min_score)

    def search_batch(
        self, images: Sequence[ImageSource], k: int = 5, min_score: float | None = None
    ) -> list[list[SearchResult]]:
        """:meth:`search` for each image, with identical results.

        Raises:
            ImageLoadError: an image cannot be read.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        if not images:
            return []
        return self._index.search_batch(self._embedder.embed_batch(images), k, min_score)

    def close(self) -> None:
        """Release the model's interpreter."""
        self._embedder.close()

    def __enter__(self) -> ProductSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
