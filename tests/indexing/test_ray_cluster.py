"""The Ray engine on a cluster of two nodes: `snapbuy index --engine ray --ray-address ADDR` joins a
running cluster (a head and a worker node, each a raylet of its own with one CPU, both on 127.0.0.1),
spreads its embedding actors over both nodes, and builds the local engine's bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.indexing import IndexingOptions, build_index
from tests.conftest import TINY_SPEC
from tests.indexing.test_ray_engine import vectors_by_image

# Ray turns a 127.0.0.1 address into this machine's network address unless told that it runs no
# multi-machine cluster (the switch Ray keeps for macOS and Windows); the nodes are started on
# 127.0.0.1 explicitly, and every process that joins them is told the same, so nothing leaves loopback.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
RUN_SECONDS = 240


@pytest.fixture
def two_node_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("ray", reason="the Ray engine's tests need the ray extra: pip install -e '.[ray]'")
    import ray
    import ray._private.ray_constants
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized(), "another test left this process in a Ray runtime"
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)  # as LOOPBACK_ONLY
    loopback = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    cluster: Any = Cluster(initialize_head=True, head_node_args={**loopback, "include_dashboard": False})
    try:
        cluster.add_node(**loopback)
        cluster.wait_for_nodes()
        cluster.connect()  # this process reads the cluster's state; the run joins it from another
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def embed_actor_nodes() -> list[str]:
    """The node of every embedding actor the cluster has run, read from its control store."""
    from ray._private.state import actors

    table: dict[str, dict[str, Any]] = actors()
    return [info["Address"]["NodeID"] for info in table.values() if "EmbedStage" in info["ActorClassName"]]


@pytest.mark.slow
def test_an_index_run_joins_a_two_node_cluster_and_builds_the_local_bundle(
    two_node_cluster: Any, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    import ray

    nodes = [node for node in ray.nodes() if node["Alive"]]
    assert [node["NodeManagerAddress"] for node in nodes] == ["127.0.0.1", "127.0.0.1"]
    options = IndexingOptions(batch_size=4, catalog_views=2)
    build_index(catalog_copy, tmp_path / "local", tiny_embedder, options)

    command = [sys.executable, "-m", "snapbuy", "index", str(catalog_copy), "--index", str(tmp_path / "ray")]
    command += ["--model", TINY_SPEC, "--batch-size", "4", "--catalog-views", "2", "--thumbnail-side", "0"]
    command += ["--engine", "ray", "--ray-address", two_node_cluster.address]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_SECONDS, env={**os.environ, **LOOPBACK_ONLY}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "on the Ray engine" in run.stdout

    # One actor per CPU slot of the cluster, one slot on each node: the work really was spread.
    placed = embed_actor_nodes()
    assert len(placed) == 2 and set(placed) == {node["NodeID"] for node in nodes}

    local, joined = vectors_by_image(tmp_path / "local"), vectors_by_image(tmp_path / "ray")
    assert joined.keys() == local.keys() and len(local) > 10
    for key, vector in local.items():
        np.testing.assert_allclose(joined[key], vector, atol=1e-5, err_msg=str(key))
