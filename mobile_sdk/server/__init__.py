"""The catalog on a server: publish a product index to Milvus, search it over HTTP.

The step after ``index`` in the data path, for catalogs that do not ship with the app
(tens of millions of products, daily changes): the phone still embeds the photo and
sends the 256-value vector (or the photo); the server searches.

- ``milvus_index``: :class:`~mobile_sdk.server.milvus_index.MilvusIndex`, a Milvus
  collection with the ``search(vector, k, min_score)`` of
  :class:`~mobile_sdk.index.ProductIndex`, and the Milvus connection and metadata.
- ``publish``: :func:`~mobile_sdk.server.publish.publish`, a ``.dpi`` index -> a new
  Milvus collection, then an alias switch (``deepproduct publish``).
- ``http_service``: :func:`~mobile_sdk.server.http_service.create_app`, the FastAPI
  service over a ``MilvusIndex`` or a local ``ProductIndex`` (``deepproduct serve``).
- ``commands``: the two commands, registered through the ``deepproduct.commands``
  entry-point group with the ``[server]`` extra.

Needs the ``server`` extra (``pip install 'deepproduct[server]'``: pymilvus,
milvus-lite, FastAPI, uvicorn). The rest of ``mobile_sdk`` never imports this package
(an import-linter contract in ``pyproject.toml``), so the runtime stays numpy, Pillow
and LiteRT. This package imports nothing heavy at import time; each module imports its
libraries itself.
"""
