"""GPU slices per xdist worker."""

from __future__ import annotations

from harness.runner.gpus import worker_gpus


def test_eight_gpus_over_four_workers_give_two_each_without_overlap() -> None:
    """Four workers on eight GPUs get disjoint pairs."""
    slices = [worker_gpus(f"gw{i}", 8, 4) for i in range(4)]
    assert slices == ["0,1", "2,3", "4,5", "6,7"]


def test_more_workers_than_gpus_wrap_around() -> None:
    """Three workers on two GPUs share them round-robin, one GPU each."""
    assert [worker_gpus(f"gw{i}", 2, 3) for i in range(3)] == ["0", "1", "0"]


def test_no_xdist_or_no_gpu_means_no_override() -> None:
    """The controller, or a machine without GPUs, leaves CUDA_VISIBLE_DEVICES alone."""
    assert worker_gpus(None, 8, 4) is None
    assert worker_gpus("gw0", 0, 2) is None
