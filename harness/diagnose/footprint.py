"""Whether an out-of-memory error is the weights alone not fitting: the model's size against the GPUs it was split over.

A CUDA OOM says only that memory ran out. When the log also shows the model's parameter count (in its name:
"Qwen1.5-72B-Chat"), the GPU's total memory (torch's OOM message: "GPU 0 has a total capacity of 79.33 GiB") and the
tensor-parallel size the command asked for (1 when it names none), the arithmetic the pre-flight check does
(harness/checkpoint/gpu.py) says whether the 16-bit weights per GPU exceed the whole GPU: then no setting but more
GPUs (or a quantised checkpoint) helps, and the cause is WEIGHTS_TOO_LARGE. A quantised name (GPTQ, AWQ, Int4, FP8,
GGUF, ...) has fewer bytes a parameter than its name tells: no claim is made then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB_PER_BILLION_16BIT = 2e9 / 2**30  # 2 bytes a parameter

# a model id or path after --model / serve / model=, with its parameter count as <N>B ("72B", "1.5b", "8x7B")
_MODEL = re.compile(
    r"(?:--model[= ]+|\bserve\s+|\bmodel\s*=\s*[\"']?)(?P<name>[\w./-]*?(?:(?P<experts>\d+)x)?"
    r"(?P<billions>\d+(?:\.\d+)?)[Bb](?![A-Za-z0-9])[\w./-]*)"
)
_QUANTISED = re.compile(r"gptq|awq|int[48]|\b[48]bit|fp8|gguf|bnb|exl2|nf4|w[48]a\d+|mlx|q[2-8]_", re.IGNORECASE)
_TENSOR_PARALLEL = re.compile(r"(?:--tensor[-_]parallel[-_]size|\s-tp|\btensor_parallel_size)[= ]+(?P<size>\d+)")
_CAPACITY = re.compile(r"total capac\w* of (?P<gib>\d+(?:\.\d+)?) GiB")


@dataclass
class Footprint:
    """What a log says of the model's size, its split and the GPU's memory, as read line by line."""

    billions: float | None = None
    quantised: bool = False
    tensor_parallel: int | None = None
    gpu_gib: float | None = None

    def read(self, message: str) -> None:
        model = _MODEL.search(message)
        if model is not None and self.billions is None:
            self.billions = float(model.group("billions")) * int(model.group("experts") or 1)
            self.quantised = bool(_QUANTISED.search(model.group("name")))
        split = _TENSOR_PARALLEL.search(message)
        if split is not None and self.tensor_parallel is None:
            self.tensor_parallel = int(split.group("size"))
        capacity = _CAPACITY.search(message)
        if capacity is not None and self.gpu_gib is None:
            self.gpu_gib = float(capacity.group("gib"))

    def weights_exceed_gpus(self) -> bool:
        """Whether the 16-bit weights per GPU alone are more than a whole GPU's memory."""
        if self.billions is None or self.gpu_gib is None or self.quantised:
            return False
        per_gpu = self.billions * GIB_PER_BILLION_16BIT / (self.tensor_parallel or 1)
        return per_gpu > self.gpu_gib
