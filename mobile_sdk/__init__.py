"""DeepProduct reference runtime: image -> tensor -> embedding -> index -> result.

Needs numpy, Pillow, LiteRT and NumKong only (``pip install deepproduct``)::

    from mobile_sdk import Embedder, ProductIndex, ProductSearch

    with Embedder.from_model_path("dist/model.tflite") as embedder:
        index = ProductIndex.build(embedder, "data/builtin/val/catalog", dtype="int8")
        index.save("catalog.dpi")
    with ProductSearch.from_files("dist/model.tflite", "catalog.dpi") as search:
        for hit in search.search("photo.jpg", k=5):
            print(hit.product_id, f"{hit.score:.3f}")

The modules, one per step: ``image_io`` (image -> pixels), ``preprocess`` (pixels ->
model input), ``embedder`` (model input -> embedding), ``index`` (embeddings ->
products), ``product_search`` (the whole path, with the model/index pairing checks).
"""

from mobile_sdk.atomic_file import OutputError
from mobile_sdk.embedder import Embedder, EmbedderError, EmbedderOptions
from mobile_sdk.errors import DatasetError, DeepProductError
from mobile_sdk.image_io import ImageLoadError
from mobile_sdk.index import (
    FingerprintMismatchError,
    IndexFormatError,
    ProductIndex,
    ProductNotFoundError,
    SearchResult,
    VectorError,
)
from mobile_sdk.model_metadata import ModelMetadata, ModelMetadataError
from mobile_sdk.product_search import ProductSearch

__all__ = [
    "DatasetError",
    "DeepProductError",
    "Embedder",
    "EmbedderError",
    "EmbedderOptions",
    "FingerprintMismatchError",
    "ImageLoadError",
    "IndexFormatError",
    "ModelMetadata",
    "ModelMetadataError",
    "OutputError",
    "ProductIndex",
    "ProductNotFoundError",
    "ProductSearch",
    "SearchResult",
    "VectorError",
]
