"""Tables are built with the explicit schemas; a key the schema does not know is an error, not a null."""

from __future__ import annotations

import pytest

from raypipe.schema import OUTPUT, WORK, table


def test_missing_keys_become_nulls():
    t = table([{"doc_id": "a", "source": "/a.pdf"}], OUTPUT)
    assert t.schema == OUTPUT and t.to_pylist()[0]["status"] is None


def test_misspelt_keys_are_refused():
    with pytest.raises(KeyError, match="'staus'"):
        table([{"doc_id": "a", "staus": "ok"}], OUTPUT)
    with pytest.raises(KeyError, match=r"row\.pages\[\]: no field 'txt'"):
        table([{"doc_id": "a", "pages": [{"page_number": 1, "txt": "x"}]}], WORK)
    with pytest.raises(KeyError, match="'image'"):  # images never reach the output
        table([{"doc_id": "a", "pages": [{"page_number": 1, "image": b""}]}], OUTPUT)
