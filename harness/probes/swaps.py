"""swaps: several models behind one base URL (a router, a server that loads and evicts models on demand), asked in
an order that makes the server switch between them: a, a, b, b, a, a, b, b...

Each model gets ``repeats`` short requests in a row per round: the first is the first request after a switch to it
(where a multi-model server loads it, or a router wakes its backend), the others follow with the model already in
place. The figures are wall-clock seconds per request as the client saw them; a request that fails is counted as
not answered with its error, never timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

ROUNDS = 2
REPEATS = 2
REQUEST_KINDS = ("chat", "completions", "embeddings")


@dataclass(frozen=True)
class SwapTiming:
    """One model's answers in the swap sequence."""

    model: str
    kind: str  # the request it was sent: chat, completions or embeddings
    asked: int
    answered: int
    first_after_switch_s: tuple[float, ...]  # one per round: the first request after the server switched to it
    following_s: tuple[float, ...]  # the requests after it in the same round
    error: str | None = None  # the first failure, if any

    @property
    def first_median_s(self) -> float | None:
        return round(statistics.median(self.first_after_switch_s), 4) if self.first_after_switch_s else None

    @property
    def following_median_s(self) -> float | None:
        return round(statistics.median(self.following_s), 4) if self.following_s else None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "asked": self.asked,
            "answered": self.answered,
            "first_after_switch_s": list(self.first_after_switch_s),
            "following_s": list(self.following_s),
            "first_median_s": self.first_median_s,
            "following_median_s": self.following_median_s,
            "error": self.error,
        }


def swap_order(models: Sequence[str], rounds: int = ROUNDS, repeats: int = REPEATS) -> list[tuple[str, bool]]:
    """(model, first after a switch) in the order the requests go: every model's turn is followed by another's."""
    return [(model, index == 0) for _ in range(rounds) for model in models for index in range(repeats)]


def measure_swaps(
    client: openai.OpenAI,
    kinds: Mapping[str, str],
    *,
    timeout: float,
    rounds: int = ROUNDS,
    repeats: int = REPEATS,
) -> tuple[SwapTiming, ...]:
    """Send the swap sequence over the models of ``kinds`` (model -> request kind, in the order to alternate)."""
    import openai

    first: dict[str, list[float]] = {model: [] for model in kinds}
    following: dict[str, list[float]] = {model: [] for model in kinds}
    asked = dict.fromkeys(kinds, 0)
    errors: dict[str, str] = {}
    for model, is_first in swap_order(list(kinds), rounds, repeats):
        asked[model] += 1
        started = time.perf_counter()
        try:
            _REQUESTS[kinds[model]](client, model, timeout)
        except (openai.APIError, OSError) as error:
            errors.setdefault(model, f"{type(error).__name__}: {error}")
            continue
        (first if is_first else following)[model].append(round(time.perf_counter() - started, 4))
    return tuple(
        SwapTiming(
            model=model,
            kind=kinds[model],
            asked=asked[model],
            answered=len(first[model]) + len(following[model]),
            first_after_switch_s=tuple(first[model]),
            following_s=tuple(following[model]),
            error=errors.get(model),
        )
        for model in kinds
    )


def request_kind(use_cases: Sequence[str]) -> str:
    """The cheapest request a model with these use cases must answer: chat, else completions, else embeddings."""
    for kind in REQUEST_KINDS:
        if kind in use_cases:
            return kind
    return "chat"


def _chat(client: openai.OpenAI, model: str, timeout: float) -> None:
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0, timeout=timeout
    )


def _completions(client: openai.OpenAI, model: str, timeout: float) -> None:
    client.completions.create(model=model, prompt="Hi", max_tokens=1, temperature=0, timeout=timeout)


def _embeddings(client: openai.OpenAI, model: str, timeout: float) -> None:
    client.embeddings.create(model=model, input="Hi", timeout=timeout)


_REQUESTS: dict[str, Callable[[openai.OpenAI, str, float], None]] = {
    "chat": _chat,
    "completions": _completions,
    "embeddings": _embeddings,
}
