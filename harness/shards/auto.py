"""`--shard auto`: this job's shard K/N, read from the CI system or scheduler that runs it.

Each system says it its own way (all indexes here are turned 1-based, as ``ShardId`` counts):

- Buildkite ``parallelism: N``: ``BUILDKITE_PARALLEL_JOB`` (0-based) and ``BUILDKITE_PARALLEL_JOB_COUNT``.
- A Kubernetes Indexed Job: ``JOB_COMPLETION_INDEX`` (0-based; the Job controller sets it). The count is not in the
  pod's environment: set ``VLLM_COMPAT_SHARDS`` to the Job's ``completions`` in the pod template.
- A Slurm job array: ``SLURM_ARRAY_TASK_ID`` is the task's index value, not its position (``--array=1-7:2`` runs
  1, 3, 5, 7), with ``SLURM_ARRAY_TASK_MIN``, ``SLURM_ARRAY_TASK_MAX``, ``SLURM_ARRAY_TASK_COUNT`` (tasks in the
  array) and ``SLURM_ARRAY_TASK_STEP``. K = (ID - MIN) / STEP + 1 when the array is one range with one step (COUNT
  = (MAX - MIN) / STEP + 1); an index list such as ``--array=1,2,9`` has no position to read, and is refused.
- GitHub Actions puts no matrix value in the environment (``strategy.job-index`` is an expression, not a variable):
  pass it on the command line, ``--shard ${{ matrix.shard }}/${{ strategy.job-total }}`` with ``matrix: {shard:
  [1, 2, 3]}``, or the ``shard`` field of ``vllm-compat plan --json``. ``auto`` there is an error saying so.

Variables of two systems at once, a count missing, or values that do not form K of N: a ``ShardError`` naming the
variables, their values and the fix (pass ``--shard K/N``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.shards.partition import ShardError, ShardId, parse_shard

AUTO = "auto"
COUNT_VARIABLE = "VLLM_COMPAT_SHARDS"  # the count where the system does not give it (a Kubernetes Indexed Job)


def resolve_shard(text: str, environ: Mapping[str, str], *, option: str = "--shard") -> ShardId:
    """``K/N`` as given, or for ``auto`` the shard the CI system running this job says."""
    if (text or "").strip().lower() == AUTO:
        return shard_from_ci(environ, option=option)
    return parse_shard(text, option=option)


def _int(environ: Mapping[str, str], name: str, option: str) -> int:
    value = environ.get(name, "")
    try:
        return int(value.strip())
    except ValueError:
        raise ShardError(f"{option} auto: {name}={value!r} is not a whole number; pass {option} K/N instead") from None


def _shard(index: int, total: int, read: str, option: str) -> ShardId:
    """A 1-based index and a count from the environment as a ShardId, or a ShardError naming what was read."""
    if total < 1 or not 1 <= index <= total:
        raise ShardError(f"{option} auto: {read} is not shard K of N (1 <= K <= N); pass {option} K/N instead")
    return ShardId(index, total)


def _buildkite(environ: Mapping[str, str], option: str) -> ShardId:
    if "BUILDKITE_PARALLEL_JOB_COUNT" not in environ:
        raise ShardError(
            f"{option} auto: BUILDKITE_PARALLEL_JOB is set but BUILDKITE_PARALLEL_JOB_COUNT is not; give the step "
            f"`parallelism: N`, or pass {option} K/N"
        )
    index, total = (
        _int(environ, "BUILDKITE_PARALLEL_JOB", option),
        _int(environ, "BUILDKITE_PARALLEL_JOB_COUNT", option),
    )
    return _shard(index + 1, total, f"BUILDKITE_PARALLEL_JOB={index} (0-based) of {total}", option)


def _kubernetes(environ: Mapping[str, str], option: str) -> ShardId:
    if COUNT_VARIABLE not in environ:
        raise ShardError(
            f"{option} auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the pod does not know the "
            f"count: set {COUNT_VARIABLE} to the Job's completions in the pod template (env: [{{name: "
            f'{COUNT_VARIABLE}, value: "N"}}]), or pass {option} K/N'
        )
    index, total = _int(environ, "JOB_COMPLETION_INDEX", option), _int(environ, COUNT_VARIABLE, option)
    return _shard(index + 1, total, f"JOB_COMPLETION_INDEX={index} (0-based) of {COUNT_VARIABLE}={total}", option)


def _slurm(environ: Mapping[str, str], option: str) -> ShardId:
    needed = ("SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT")
    absent = [name for name in needed if name not in environ]
    if absent:
        raise ShardError(
            f"{option} auto: SLURM_ARRAY_TASK_ID is set but {', '.join(absent)} not; run it as a job array "
            f"(sbatch --array=1-N), or pass {option} K/N"
        )
    task, low, high, count = (_int(environ, name, option) for name in ("SLURM_ARRAY_TASK_ID", *needed))
    step = _int(environ, "SLURM_ARRAY_TASK_STEP", option) if "SLURM_ARRAY_TASK_STEP" in environ else 1
    read = (
        f"SLURM_ARRAY_TASK_ID={task} in an array of SLURM_ARRAY_TASK_COUNT={count} from SLURM_ARRAY_TASK_MIN={low} "
        f"to SLURM_ARRAY_TASK_MAX={high} step {step}"
    )
    if step < 1 or (high - low) % step or (high - low) // step + 1 != count or (task - low) % step:
        raise ShardError(
            f"{option} auto: {read} is not one range with one step, so the task's position cannot be read; submit "
            f"it as --array=1-N (or MIN-MAX:STEP), or pass {option} K/N"
        )
    return _shard((task - low) // step + 1, count, read, option)


# Each system: the variable that says it is running this job, and how its shard is read.
_SYSTEMS: dict[str, tuple[str, Callable[[Mapping[str, str], str], ShardId]]] = {
    "Buildkite": ("BUILDKITE_PARALLEL_JOB", _buildkite),
    "a Kubernetes Indexed Job": ("JOB_COMPLETION_INDEX", _kubernetes),
    "a Slurm job array": ("SLURM_ARRAY_TASK_ID", _slurm),
}


def shard_from_ci(environ: Mapping[str, str], *, option: str = "--shard") -> ShardId:
    """This job's shard from the one system whose shard variables are set (the module docstring's list)."""
    found = [(name, variable, read) for name, (variable, read) in _SYSTEMS.items() if variable in environ]
    if len(found) > 1:
        listed = "; ".join(f"{name} ({variable}={environ[variable]})" for name, variable, _ in found)
        raise ShardError(
            f"{option} auto: the variables of more than one system are set: {listed}; pass {option} K/N to say "
            "which split this job is"
        )
    if found:
        _, _, read = found[0]
        shard = read(environ, option)
        declared = environ.get(COUNT_VARIABLE)
        if declared is not None and found[0][1] != "JOB_COMPLETION_INDEX" and declared.strip() != str(shard.total):
            raise ShardError(
                f"{option} auto: {COUNT_VARIABLE}={declared} but {found[0][0]} says {shard.total} shards; unset "
                f"{COUNT_VARIABLE} or make them agree"
            )
        return shard
    if environ.get("GITHUB_ACTIONS") == "true":
        raise ShardError(
            f"{option} auto: GitHub Actions puts no matrix value in the environment; pass it on the command line: "
            f"{option} ${{{{ matrix.shard }}}}/${{{{ strategy.job-total }}}} (matrix: {{shard: [1, 2, ...]}}), or "
            "the shard field of `vllm-compat plan --json`"
        )
    raise ShardError(
        f"{option} auto: no CI shard variables found (BUILDKITE_PARALLEL_JOB, JOB_COMPLETION_INDEX with "
        f"{COUNT_VARIABLE}, SLURM_ARRAY_TASK_ID); pass {option} K/N"
    )
