"""How much an answer rests on: the kind of evidence that won, graded so that a gate can refuse to act on a guess.

- high: an error line whose words name the cause (a signature's, or a vLLM source site a rule maps to a code);
- medium: a sign that usually comes with the cause (another version's wording, a library's report of an error below
  it, the place a traceback raised an exception that says little, an HTTP 400 no vLLM message explains);
- low: a person's account of the symptom, a traceback cut before its exception, a true but unspecific sign, a kill
  with no error.

tests/diagnose_accuracy.py prints how often the answers of each grade are right; OTHER has no grade.
"""

from __future__ import annotations

from harness.diagnose.signatures import (
    CONSEQUENCE,
    EXIT_SIGNAL,
    FRAME,
    KILLED_LINE,
    PROSE,
    PROSE_TOPIC,
    REPORTED,
    SOURCE,
    TEMPLATE_GUESS,
    TRUNCATED,
    VAGUE,
    WORDS,
)

HIGH, MEDIUM, LOW = "high", "medium", "low"

# rank -> what the answer rests on; ranks above SOURCE are the signatures' specific messages
_BASIS: dict[int, str] = {
    SOURCE: "a message of vLLM's source whose site names the cause",
    REPORTED: "a library's report of an error raised below it",
    WORDS: "an error message in the words vLLM's messages of this cause use",
    CONSEQUENCE: "a message that usually follows this cause",
    FRAME: "where the traceback raised an exception that says little",
    TEMPLATE_GUESS: "an HTTP 400 whose message no vLLM source has (the chat template's own)",
    PROSE: "a person's account of the symptom, not an error line",
    PROSE_TOPIC: "a person's account of what the failure concerns",
    TRUNCATED: "where a traceback cut before its exception line stopped",
    VAGUE: "a true but unspecific sign",
    KILLED_LINE: "a kill with no error before it",
    EXIT_SIGNAL: "the exit code alone: a kill with no error in the log",
}


def grade(rank: int) -> tuple[str, str]:
    """(confidence, basis) of an answer that won with this rank."""
    if rank > SOURCE:
        return HIGH, "an error message that names the cause"
    basis = _BASIS.get(rank, "a sign of this cause")
    if rank >= SOURCE:
        return HIGH, basis
    if rank >= TEMPLATE_GUESS:
        return MEDIUM, basis
    return LOW, basis
