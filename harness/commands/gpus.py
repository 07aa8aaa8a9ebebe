"""`vllm-compat gpus [--json]`: the node's schedulable GPUs (whole GPUs and MIG devices) as the scheduler sees them."""

from __future__ import annotations

import argparse
import json

from harness.cli import UsageError
from harness.fleet import GPUS_VAR, GpuUnit, Inventory, InventoryError, read_inventory

HELP = (
    "list this node's GPUs and MIG devices (index, UUID, memory, compute capability) as the scheduler leases them; "
    f"honours CUDA_VISIBLE_DEVICES; {GPUS_VAR}=8xH100-80GB describes a node instead (simulated)"
)

GIB = 1 << 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the inventory as JSON")


def _row(unit: GpuUnit) -> str:
    where = f"{unit.index}" if unit.mig_index is None else f"{unit.index}/{unit.mig_index}"
    free = f"{unit.free_bytes / GIB:6.1f}" if unit.free_bytes is not None else "   n/a"
    kind = f"MIG {unit.mig_profile}" if unit.is_mig else "GPU"
    cc = f"{unit.capability // 10}.{unit.capability % 10}"
    return f"{where:<5} {kind:<13} {unit.name:<28} {unit.total_bytes / GIB:7.1f} {free}  {cc:<4} {unit.uuid}"


def render(inventory: Inventory) -> str:
    """The inventory as a table, with where it came from; the honest n/a where there is no NVIDIA GPU."""
    lines = [f"GPUs: {inventory.summary}"]
    if inventory.source == "nvml":
        lines[0] += f" (NVML, driver {inventory.driver})"
    if inventory.simulated:
        lines.append("simulated: described by the environment, no GPU was asked; free memory is by description")
    if inventory.units:
        lines.append(f"{'index':<5} {'kind':<13} {'name':<28} {'total GiB':>7} {'free':>6}  {'cc':<4} uuid")
        lines += [_row(unit) for unit in inventory.units]
    elif inventory.source != "none":
        lines.append("no unit left to schedule")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        inventory = read_inventory()
    except InventoryError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(inventory.to_json(), indent=2) if args.json else render(inventory))
    return 0
