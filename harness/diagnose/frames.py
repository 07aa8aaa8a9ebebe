"""Where an exception was raised, read from its traceback's frames, for the exceptions whose message says little.

A bare ``AssertionError``, ``KeyError: 'type'`` or an error some library raised while it was being imported names no
cause and matches no message of vLLM's; the traceback above it says where it happened, and for a few places the place
is the cause:

- an ``assert`` that divides by the tensor-parallel size (``assert self.total_num_kv_heads % tp_size == 0``, in a
  model's code): the heads do not split over that many GPUs (TP_INDIVISIBLE);
- an ``assert`` about the quantisation method a layer got (QUANT_UNSUPPORTED), read from the source the frame quotes
  or from the message, where pytest's rewriting or the raise put the statement;
- a ``KeyError`` in transformers' table of model types: a model type it predates (TRANSFORMERS_MISMATCH);
- a ``KeyError`` in vLLM's own reading of the model's config (vllm/config, transformers_utils/config, the rotary
  embedding's rope_scaling): the config has a field or format this vLLM predates (ARCH_UNSUPPORTED: a newer vLLM);
- any other error raised while a library module was being imported (a frame ``in <module>`` of an installed package,
  reached from an import statement): the installed packages do not fit together (ENV_IMPORT_BROKEN);
- a runtime error raised inside torch.distributed's or vLLM's distributed set-up (NCCL_ERROR);
- an error whose innermost vLLM frame is in the LoRA code (LORA_ADAPTER: the adapter), the quantisation layers
  (QUANT_UNSUPPORTED) or a model's weight loading with a KeyError (WEIGHT_NAME_MISMATCH: a tensor the model has no
  parameter for).

Each is a weak reading (harness/diagnose/core.py offers it below any message that names a cause), and only for an
exception line nothing else recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FRAMES = 12  # the innermost frames of one traceback that are kept

# 'File "/x/vllm/config.py", line 1062, in _get_and_verify_max_len' -- also a frame whose start the paste cut off
_FRAME = re.compile(r'(?P<path>[^"\s]*\.py)", line \d+, in (?P<function>[\w<>.]+)')
# IPython's and Jupyter's frames: "/usr/lib/python3/dist-packages/vllm/x.py in __init__(self, a, b)"
_IPYTHON_FRAME = re.compile(r"^\s*(?P<path>/\S+\.py) in (?P<function>[\w<>]+)\(")
_FROZEN_IMPORT = re.compile(r'File "<frozen importlib\._bootstrap')
_IMPORT_STATEMENT = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\b)")
_INSTALLED = re.compile(r"/(site|dist)-packages/")
# a checkpoint's own code (trust_remote_code): an error in its import is the model's, not the environment's
_REMOTE_CODE = re.compile(r"/transformers_modules/")
_BARE_EXCEPTION = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception))\s*$")

# an assert whose expression divides by (or into) the tensor-parallel size
_TP_ASSERT = re.compile(
    r"^\s*assert\b(?=[^#]*%)(?=[^#]*(\btp(_\w+)?\b|\w_tp\b|tensor_(model_)?parallel|world_size|parallel_size"
    r"|num_gpus))"
)
_ASSERT = re.compile(r"^\s*assert\s")
# an assert about the quantisation method the layer got (none: the checkpoint's method has no kernel for this layer or
# device)
_QUANT_ASSERT = re.compile(r"^\s*assert\b[^#]*\bquant\w*")
_ASSERTS = (("TP_INDIVISIBLE", _TP_ASSERT), ("QUANT_UNSUPPORTED", _QUANT_ASSERT))
# transformers' table of model types (CONFIG_MAPPING[model_type]): a KeyError there is a model type it predates
_MODEL_TYPES = re.compile(r"/transformers/models/auto/configuration_auto\.py$")
_CONFIG_READERS = re.compile(r"/vllm/(config(\.py|/)|transformers_utils/config\.py|model_executor/layers/rotary)")
_DISTRIBUTED = re.compile(r"/(torch|vllm)/distributed/")
_DISTRIBUTED_ERRORS = re.compile(r"(^|\.)(RuntimeError|DistBackendError|DistNetworkError|DistStoreError|DistError)$")
_VLLM = re.compile(r"(^|/)vllm/")
# the parts of vLLM whose failures have one usual cause, by the innermost of vLLM's frames (the error itself may be
# raised below it, in torch or a library it called)
_ENGINE_AREAS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    # (code, exception types, frame "path:function")
    ("LORA_ADAPTER", re.compile(r"Error$"), re.compile(r"/vllm/lora/")),
    ("QUANT_UNSUPPORTED", re.compile(r"Error$"), re.compile(r"/vllm/model_executor/layers/quantization/")),
    # a checkpoint tensor the model's loader has no parameter for: params_dict[name]
    (
        "WEIGHT_NAME_MISMATCH",
        re.compile(r"(^|\.)KeyError$"),
        re.compile(r"/vllm/(model_executor/)?models/.*:.*(load_weights|weight_loader)\b"),
    ),
)
_IMPORT_ERRORS = re.compile(r"(^|\.)(ImportError|ModuleNotFoundError)$")  # read by their own signatures


@dataclass(frozen=True)
class Frame:
    path: str
    function: str
    source: str  # the statement the frame quotes, "" when the log shows none
    line: int  # the log line of the frame
    imported: bool  # the frame above it is an import: this frame runs a module's body as it is imported


def frame_of(message: str) -> tuple[str, str] | None:
    """(path, function) when the line is a traceback frame."""
    found = _FRAME.search(message) or _IPYTHON_FRAME.match(message)
    return (found.group("path"), found.group("function")) if found else None


def bare_exception(message: str) -> str | None:
    """The type of an exception line that carries no message at all (``AssertionError``)."""
    found = _BARE_EXCEPTION.match(message.strip().strip("`*"))
    return found.group("type") if found else None


class Traceback:
    """The frames of the traceback being read, innermost last."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._after_import = False  # the last line read was an import's frame or statement

    def clear(self) -> None:
        self.frames.clear()
        self._after_import = False

    def add(self, number: int, message: str, following: list[str]) -> bool:
        """Read a line; True when it was a frame."""
        if _FROZEN_IMPORT.search(message):
            self._after_import = True
            return True
        found = frame_of(message)
        if found is None:
            return False
        path, function = found
        source = following[0].strip() if following and frame_of(following[0]) is None else ""
        self.frames.append(Frame(path, function, source, number, self._after_import))
        del self.frames[:-MAX_FRAMES]
        self._after_import = bool(_IMPORT_STATEMENT.match(source))
        return True

    def cause(self, exception_type: str, line: int, message: str = "") -> FrameCause | None:
        """The cause of an exception raised at the end of these frames, when the place says it. ``message``: the
        exception's own; an assert rewritten by pytest, or raised with its expression, carries the statement there."""
        recent = bool(self.frames) and line - self.frames[-1].line <= 4  # its frame, the source, carets, a cut "..."
        innermost = self.frames[-1] if recent else Frame("", "", "", line, False)
        if exception_type.endswith("AssertionError"):
            statement = message if _ASSERT.match(message) else innermost.source
            for code, asserted in _ASSERTS:
                if asserted.match(statement):
                    return FrameCause(code, False, innermost)  # the assert says what failed
        if not recent:
            return None
        if exception_type.endswith("KeyError") and _CONFIG_READERS.search(innermost.path):
            return FrameCause("ARCH_UNSUPPORTED", False, innermost)
        if exception_type.endswith("KeyError") and _MODEL_TYPES.search(innermost.path):
            return FrameCause("TRANSFORMERS_MISMATCH", False, innermost)
        engine = next((frame for frame in reversed(self.frames) if _VLLM.search(frame.path)), None)
        if engine is not None:
            for code, types, area in _ENGINE_AREAS:
                if types.search(exception_type) and area.search(f"{engine.path}:{engine.function}"):
                    return FrameCause(code, True, engine)
        if _DISTRIBUTED_ERRORS.search(exception_type) and _DISTRIBUTED.search(innermost.path):
            return FrameCause("NCCL_ERROR", True, innermost)
        if not _IMPORT_ERRORS.search(exception_type):
            for frame in self.frames:
                if (
                    frame.imported
                    and frame.function == "<module>"
                    and _INSTALLED.search(frame.path)
                    and not _REMOTE_CODE.search(frame.path)
                ):
                    return FrameCause("ENV_IMPORT_BROKEN", True, frame)
        return None


@dataclass(frozen=True)
class FrameCause:
    code: str
    vague: bool  # only the place says it (an error in the distributed set-up, in an import), not what failed there
    frame: Frame  # the frame that says it

    @property
    def where(self) -> str | None:
        """The frame as a source site: the path from its package on ("vllm/config.py:_get_and_verify_max_len")."""
        if not self.frame.path:
            return None  # read from the exception's own message: no frame shown
        path = re.split(r"/(?:site|dist)-packages/", self.frame.path)[-1]
        return f"{path}:{self.frame.function} (traceback frame, log line {self.frame.line})"
