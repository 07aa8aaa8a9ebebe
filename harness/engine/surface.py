"""What one vLLM version offers a user, for comparing two versions: its server's command-line options and where each
architecture's implementation lives. Asked of the engine environment once per version and cached like the registry.

- options: every option string of the OpenAI server's argument parser, built the way the server builds it
  (``make_arg_parser(FlexibleArgumentParser())``, vllm/entrypoints/launchers/cli_args.py in 0.31-0.32, formerly
  vllm/entrypoints/openai/cli_args.py), with its destination, default and whether its help says it is deprecated.
  A flag the target version lacks is refused at boot ("unrecognized arguments"); a destination that kept its meaning
  under another option string is a rename.
- implementations: vllm/model_executor/models/registry.py ``_VLLM_MODELS``, architecture -> (module, class); an
  architecture whose module changed between versions runs different code (e.g. moved to the Transformers backend).

Cached as JSON under ``$VLLM_COMPAT_CACHE/surface/``, keyed by the vLLM distribution and version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine.answers import cached_engine_answer
from harness.engine.scripts import answer_line
from harness.paths import cache_root

_SURFACE_SCRIPT = """
import json
try:
    from vllm.utils.argparse_utils import FlexibleArgumentParser
except ImportError:
    from vllm.utils import FlexibleArgumentParser
try:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
except ImportError:
    from vllm.entrypoints.openai.cli_args import make_arg_parser
parser = make_arg_parser(FlexibleArgumentParser())
options = {}
for action in parser._actions:
    default, shown = action.default, False
    try:
        json.dumps(default)
    except (TypeError, ValueError):
        default, shown = repr(default), True
    help_text = action.help if isinstance(action.help, str) else ""
    for option in action.option_strings:
        options[option] = {
            "dest": action.dest,
            "default": default,
            "default_repr": shown,
            "deprecated": "deprecated" in help_text.lower() or bool(getattr(action, "deprecated", False)),
        }
out = {"options": options}
try:
    from vllm.model_executor.models import registry as _registry
    out["implementations"] = {arch: list(where) for arch, where in _registry._VLLM_MODELS.items()}
except Exception:
    out["implementations"] = {}
""" + answer_line("out")

CACHE_SCHEMA = 2  # bump when _SURFACE_SCRIPT reports more: older cache files are then asked again


@dataclass(frozen=True)
class OptionInfo:
    """One option string of the server's argument parser."""

    dest: str
    default: Any
    deprecated: bool
    default_repr: bool = False  # the default is an object shown by its repr(), not a plain value


@dataclass(frozen=True)
class EngineSurface:
    distribution: str
    vllm_version: str
    options: dict[str, OptionInfo]  # "--max-model-len" -> its destination, default, deprecation
    implementations: dict[str, tuple[str, str]]  # architecture -> (module, class)
    cached: bool
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.vllm_version}"

    def accepts(self, flag: str) -> bool:
        """Whether ``--flag`` (a matrix flag name, without dashes) is an option of this version's server."""
        return f"--{flag}" in self.options


def surface_cache_dir() -> Path:
    return cache_root() / "surface"


def load_surface(python: Path, *, refresh: bool = False, timeout: float = 300.0) -> EngineSurface:
    """The option strings and architecture implementations of the engine at ``python`` (cached per version)."""
    answer = cached_engine_answer(
        python,
        _SURFACE_SCRIPT,
        directory=surface_cache_dir(),
        depends_on="transformers",
        schema=CACHE_SCHEMA,
        purpose="list its server's options and model implementations",
        answer_name="its server's options",
        refresh=refresh,
        timeout=timeout,
    )
    return surface_from_json(answer.data, answer.distribution, answer.vllm_version, answer.cached, answer.seconds())


def surface_from_json(
    data: dict[str, Any], distribution: str, vllm_version: str, cached: bool = True, seconds: float = 0.0
) -> EngineSurface:
    options = {
        str(name): OptionInfo(
            str(info.get("dest", "")),
            info.get("default"),
            bool(info.get("deprecated")),
            bool(info.get("default_repr")),
        )
        for name, info in (data.get("options") or {}).items()
    }
    implementations = {
        str(arch): (str(where[0]), str(where[1]))
        for arch, where in (data.get("implementations") or {}).items()
        if isinstance(where, list) and len(where) == 2
    }
    return EngineSurface(distribution, vllm_version, options, implementations, cached, round(seconds, 3))


__all__ = ["EngineSurface", "OptionInfo", "load_surface", "surface_cache_dir", "surface_from_json"]
