"""The JSON reader's bounds, depth and size, at the limit, one past it and around it
(issue 35).

Depth is counted as the number of nested arrays and objects: ``[]`` and ``{}`` are depth 1,
``[[0]]`` depth 2, a bare number depth 0. So ``MAX_JSON_DEPTH`` (64) levels are read and 65
refused; counting the top level as 0 would read one level too many. The oracle is the text:
``"[" * d + "]" * d`` is nested exactly ``d`` deep. The size bound is the file's length in
bytes: ``max_bytes`` is read, ``max_bytes + 1`` refused.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.files.jsonfile import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    JSONFileError,
    parse_json,
    read_json,
)


def _nested(depth: int, kind: str = "list") -> str:
    """JSON text nested exactly ``depth`` deep (arrays, objects, or both alternating)."""
    text = "0"
    for level in range(depth):
        use = kind if kind != "mixed" else ("list", "dict")[level % 2]
        text = f"[{text}]" if use == "list" else f'{{"k": {text}}}'
    return text


def test_the_documented_limit():
    assert MAX_JSON_DEPTH == 64 and MAX_JSON_BYTES == 64 << 20


@pytest.mark.parametrize("kind", ["list", "dict", "mixed"])
def test_depth_at_the_limit_is_read_one_past_is_refused(kind):
    assert parse_json(_nested(MAX_JSON_DEPTH, kind), "x") is not None
    with pytest.raises(JSONFileError, match=f"more than {MAX_JSON_DEPTH} levels"):
        parse_json(_nested(MAX_JSON_DEPTH + 1, kind), "x")


@pytest.mark.parametrize("text, depth", [("0", 0), ('"s"', 0), ("[]", 1), ("{}", 1),
                                         ("[0, [1]]", 2), ('{"a": [], "b": {"c": [[]]}}', 4)])
def test_depth_of_small_documents(text, depth):
    """Each document is read with ``max_depth`` equal to its depth and refused one below."""
    assert parse_json(text, "x", max_depth=depth) == json.loads(text)
    if depth:
        with pytest.raises(JSONFileError, match="nested too deeply"):
            parse_json(text, "x", max_depth=depth - 1)


@given(limit=st.integers(0, 80), delta=st.integers(-3, 3),
       kind=st.sampled_from(["list", "dict", "mixed"]))
def test_depth_around_any_limit(limit, delta, kind):
    depth = max(0, limit + delta)
    text = _nested(depth, kind)
    if depth <= limit:
        parse_json(text, "x", max_depth=limit)
    else:
        with pytest.raises(JSONFileError, match=f"more than {limit} levels"):
            parse_json(text, "x", max_depth=limit)


def test_read_json_depth_limit(tmp_path):
    (tmp_path / "ok.json").write_text(_nested(MAX_JSON_DEPTH))
    (tmp_path / "deep.json").write_text(_nested(MAX_JSON_DEPTH + 1))
    read_json(tmp_path / "ok.json")
    with pytest.raises(JSONFileError, match="nested too deeply"):
        read_json(tmp_path / "deep.json")


@given(limit=st.integers(2, 4096), delta=st.integers(-2, 2))
def test_size_around_any_limit(tmp_path_factory, limit, delta):
    size = max(1, limit + delta)
    path = tmp_path_factory.mktemp("size") / "f.json"
    path.write_bytes(b" " * (size - 1) + b"0")     # valid JSON of exactly ``size`` bytes
    if size <= limit:
        assert read_json(path, max_bytes=limit) == 0
    else:
        with pytest.raises(JSONFileError, match=f"{size:,} bytes, more than the {limit:,}"):
            read_json(path, max_bytes=limit)


def test_size_at_the_default_limit(tmp_path):
    """64 MiB exactly is read; one byte more is refused (from its size, before reading)."""
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b" " * (MAX_JSON_BYTES - 3) + b"]\n")
    assert read_json(path) == []
    with open(path, "r+b") as f:
        f.truncate(MAX_JSON_BYTES + 1)
    with pytest.raises(JSONFileError, match=f"{MAX_JSON_BYTES + 1:,} bytes"):
        read_json(path)
