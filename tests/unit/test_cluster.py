"""Ray start-up's choice of cluster, without starting one: the address ``ray start`` records, and
whether anything still answers there."""

from __future__ import annotations

import socket

from raypipe import cluster


def test_the_recorded_address_is_read_from_rays_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    assert cluster.recorded_head() is None
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("127.0.0.1:6379\n")
    assert cluster.recorded_head() == "127.0.0.1:6379"


def test_a_stale_address_does_not_answer():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        address = "127.0.0.1:%d" % listening.getsockname()[1]
        assert cluster._answers(address)
    assert not cluster._answers(address)  # closed: a head that is gone
    assert not cluster._answers("not an address")
