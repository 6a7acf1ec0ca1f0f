"""One source per format: mobile_sdk/formats/*.json feed the Python runtime, and the Java
core's FormatSpecTest checks its own constants against every entry of the same files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mobile_sdk import index, index_format, model_metadata, preprocess, preprocess_config
from mobile_sdk.format_spec import FORMATS, load_spec

JAVA_TEST = (
    Path(__file__).resolve().parents[1]
    / "android_demo/core/src/test/java/com/deepproduct/core/FormatSpecTest.java"
)


def test_python_constants_come_from_the_specs():
    spec = load_spec("index_format")
    assert index.MAGIC == spec["magic"].encode() and index.FORMAT_VERSION == spec["format_version"]
    assert (index.MAX_DIM, index.MAX_COUNT, index.MAX_ID_BYTES, index.QUANT_LEVELS) == (
        spec["max_dim"],
        spec["max_count"],
        spec["max_id_bytes"],
        spec["quant_levels"],
    )
    header = index_format.HEADER
    assert header.format == "<4sHBBII32s" and header.size == spec["header_bytes"]
    spec = load_spec("model_metadata")
    assert model_metadata.METADATA_NAME == spec["file_name"]
    assert list(model_metadata._KEYS) == spec["keys"]
    spec = load_spec("preprocess")
    assert preprocess.WEIGHT_BITS == spec["weight_bits"] == 14
    assert preprocess.MAX_REDUCTION == spec["max_reduction"]
    assert preprocess_config.MAX_INPUT_SIZE == spec["max_input_size"]
    assert list(preprocess_config._FIELDS) == spec["fields"]


@pytest.mark.parametrize("name", FORMATS)
def test_the_java_core_checks_every_entry(name):
    # a new entry in a spec file needs its Java counterpart checked in FormatSpecTest
    java = JAVA_TEST.read_text()
    assert f'spec("{name}")' in java
    for key in load_spec(name):
        if key != "spec":
            assert re.search(rf'"{key}"', java), f"FormatSpecTest does not check {name}.{key}"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        load_spec("nope")
