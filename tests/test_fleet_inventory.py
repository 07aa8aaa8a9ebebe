"""The node's GPU inventory: NVML's GPUs and MIG devices, a described inventory, and CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import pytest

from harness.fleet import InventoryError, describe_inventory, narrow_to_visible, read_inventory
from tests.nvml_fake import FakeNvml, NoDriver, a100_with_migs, h100

GiB = 1 << 30


def test_a_described_node_has_its_gpus_and_says_it_is_simulated() -> None:
    """VLLM_COMPAT_GPUS=8xH100-80GB gives eight whole H100 units, free by description, marked simulated."""
    inventory = read_inventory({"VLLM_COMPAT_GPUS": "8xH100-80GB"})
    assert len(inventory.units) == 8 and inventory.physical_gpus == 8
    assert inventory.simulated and all(unit.simulated for unit in inventory.units)
    assert "simulated: VLLM_COMPAT_GPUS=8xH100-80GB" in inventory.summary
    assert {unit.capability for unit in inventory.units} == {90}
    assert len({unit.uuid for unit in inventory.units}) == 8


def test_a_described_node_may_mix_gpus() -> None:
    """2xA100-40GB,1xL4: two A100s then an L4, with the table's capability and memory."""
    units = describe_inventory("2xA100-40GB,1xL4")
    assert [(u.index, u.name, u.capability) for u in units] == [
        (0, "A100-40GB", 80),
        (1, "A100-40GB", 80),
        (2, "L4", 89),
    ]
    assert units[2].total_bytes == 23034 * (1 << 20)


def test_a_described_mig_gpu_yields_its_mig_devices_as_units() -> None:
    """1xA100-80GB:mig=3g.40gb*2: two MIG units named by MIG UUIDs, on one physical GPU."""
    units = describe_inventory("1xA100-80GB:mig=3g.40gb*2")
    assert [u.mig_profile for u in units] == ["3g.40gb", "3g.40gb"]
    assert all(u.uuid.startswith("MIG-") and u.total_bytes == 40 * GiB for u in units)
    assert len({u.parent_uuid for u in units}) == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("8xZZ100", "ZZ100: not a known GPU"),
        ("8xH100-40GB", "H100 has 80 GiB, not 40"),
        ("1xA100-80GB:mig=4g.40gb*2", "8 compute slices"),
        ("1xA100-80GB:mig=big", "is not <slices>g.<GB>gb"),
        ("0xL4", "the count must be at least 1"),
    ],
)
def test_a_wrong_description_names_the_value_and_the_rule(text: str, says: str) -> None:
    """A description that cannot be read is an InventoryError quoting VLLM_COMPAT_GPUS, the rule and a fix."""
    with pytest.raises(InventoryError) as info:
        describe_inventory(text)
    assert str(info.value).startswith(f"VLLM_COMPAT_GPUS={text}: ")
    assert says in str(info.value)


def test_nvml_gives_whole_gpus_and_mig_devices_with_uuids_and_free_memory() -> None:
    """An H100 and an A100 in MIG mode: the H100 whole, the A100 as its two MIG devices; UUIDs, capability, memory."""
    busy = h100(0, used=10 * GiB)
    inventory = read_inventory({}, FakeNvml([busy, a100_with_migs(1)]))
    assert inventory.source == "nvml" and inventory.driver == "550.54.15" and not inventory.simulated
    whole, mig0, mig1 = inventory.units
    assert (whole.uuid, whole.capability, whole.free_bytes) == ("GPU-00000000-fake", 90, 70 * GiB)
    assert (mig0.uuid, mig0.mig_profile, mig0.capability, mig0.parent_uuid) == (
        "MIG-00000001-0-fake",
        "3g.40gb",
        80,
        "GPU-00000001-fake",
    )
    assert mig1.is_mig and mig1.label == "GPU 1 MIG 1 (3g.40gb)"


def test_without_a_driver_the_inventory_is_the_honest_na() -> None:
    """No NVIDIA driver: no unit, and the summary reads n/a (no NVIDIA GPU), never a zero."""
    inventory = read_inventory({}, NoDriver())
    assert inventory.units == () and inventory.source == "none"
    assert inventory.summary == "n/a (no NVIDIA GPU)"


@pytest.mark.parametrize(
    ("visible", "expected", "note"),
    [
        ("2,0", ["GPU 2", "GPU 0"], ""),
        ("GPU-sim-00000001", ["GPU 1"], ""),
        ("1,7,2", ["GPU 1"], "'7' names no device"),
        ("-1", [], ""),
        ("", [], ""),
    ],
)
def test_cuda_visible_devices_narrows_the_units_as_cuda_does(visible: str, expected: list[str], note: str) -> None:
    """Indices and UUIDs pick units in their order; the list ends at the first entry that names nothing."""
    inventory = read_inventory({"VLLM_COMPAT_GPUS": "4xL4", "CUDA_VISIBLE_DEVICES": visible})
    assert [u.label for u in inventory.units] == expected
    assert note in inventory.note
    assert inventory.cuda_visible_devices == visible


def test_cuda_visible_devices_takes_a_mig_uuid_or_a_uuid_prefix() -> None:
    """A MIG UUID picks that MIG device; a unique prefix of a GPU UUID picks that GPU's units."""
    units = read_inventory({}, FakeNvml([h100(0), a100_with_migs(1)])).units
    chosen, _ = narrow_to_visible(units, "MIG-00000001-1-fake")
    assert [u.uuid for u in chosen] == ["MIG-00000001-1-fake"]
    chosen, _ = narrow_to_visible(units, "GPU-00000001")
    assert [u.uuid for u in chosen] == ["MIG-00000001-0-fake", "MIG-00000001-1-fake"]
    chosen, note = narrow_to_visible(units, "GPU-0000000")  # ambiguous: CUDA takes a unique prefix only
    assert chosen == () and "names no device" in note
