"""mobile_sdk.ProductSearch: pairing checks at construction; search = index.search(embed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mobile_sdk
from mobile_sdk import (
    FingerprintMismatchError,
    IndexFormatError,
    ProductIndex,
    ProductSearch,
    SearchResult,
)

FINGERPRINT = "ab" * 32


class FakeEmbedder:
    """Embeds an image name to a fixed vector; what ProductSearch uses of an Embedder."""

    def __init__(self, vectors: dict[str, np.ndarray], fingerprint: str = FINGERPRINT) -> None:
        self.vectors = vectors
        self.fingerprint = "sha256:" + fingerprint
        self.embedding_dim = len(next(iter(vectors.values())))
        self.path = Path("fake.tflite")
        self.closed = False

    def embed(self, image: str) -> np.ndarray:
        return self.vectors[image]

    def embed_batch(self, images: list[str]) -> np.ndarray:
        return np.stack([self.vectors[i] for i in images])

    def close(self) -> None:
        self.closed = True


def _index(dim: int = 4, fingerprint: str = FINGERPRINT) -> ProductIndex:
    rng = np.random.default_rng(0)
    return ProductIndex.from_arrays(
        ["a", "a", "b", "c"], rng.normal(size=(4, dim)).astype(np.float32), fingerprint, "int8"
    )


def test_public_api_is_exported_from_the_package():
    for name in mobile_sdk.__all__:
        assert getattr(mobile_sdk, name) is not None
    assert {"Embedder", "EmbedderOptions", "ProductIndex", "ProductSearch", "SearchResult"} <= set(
        mobile_sdk.__all__
    )
    assert issubclass(mobile_sdk.FingerprintMismatchError, mobile_sdk.DeepProductError)


def test_search_is_the_index_search_of_the_embedding():
    rng = np.random.default_rng(1)
    photos = {f"p{i}.jpg": rng.normal(size=4).astype(np.float32) for i in range(3)}
    index = _index()
    search = ProductSearch(FakeEmbedder(photos), index)
    for name, vector in photos.items():
        got = search.search(name, k=2)
        assert got == index.search(vector, k=2)
        assert len(got) == 2 and all(isinstance(r, SearchResult) for r in got)
    assert search.search_batch(list(photos), k=3) == [index.search(v, k=3) for v in photos.values()]
    assert search.search("p0.jpg", k=3, min_score=1.01) == []


def test_an_index_of_another_model_is_refused_at_construction(tmp_path):
    path = tmp_path / "other.dpi"
    _index(fingerprint="cd" * 32).save(path)
    embedder = FakeEmbedder({"x": np.ones(4, np.float32)})
    with pytest.raises(FingerprintMismatchError) as e:
        ProductSearch(embedder, ProductIndex.load(path))
    assert str(e.value) == (
        f"{path}: index was built with model {'cd' * 8}..., but the queries come from model "
        f"{'ab' * 8}...; rebuild the index with this model"
    )


def test_an_index_of_another_dimension_is_refused_at_construction():
    embedder = FakeEmbedder({"x": np.ones(8, np.float32)})
    with pytest.raises(
        IndexFormatError, match="index dimension 4 differs from the model's embedding_dim 8"
    ):
        ProductSearch(embedder, _index(dim=4))


def test_context_manager_closes_the_embedder():
    embedder = FakeEmbedder({"x": np.ones(4, np.float32)})
    with ProductSearch(embedder, _index()) as search:
        assert search.index.dim == 4 and search.embedder is embedder
    assert embedder.closed
