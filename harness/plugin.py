"""The pytest plugin: the matrix becomes parametrized cells of the suites in harness/suites, one marker per use case.

`pytest` at the repository root runs harness/suites over matrix.yaml (pyproject's testpaths); `pytest -m vision` runs
the vision cells only and boots only the servers they need. With pytest-xdist, `--dist loadgroup` keeps a server's
cells on one worker. The report is written by the controller only (an xdist worker has ``config.workerinput``).

From any other directory, with the package installed: `pytest -p vllm_compat --matrix FILE` (or `--demo`) with no
path collects the suites that ship inside the package. pytest_load_initial_conftests appends their directory to the
arguments, the way pytest's docs add options there: it is the last hook that runs before pytest fixes its arguments,
and the suites then are ordinary initial paths (node ids, -k, -m, --collect-only and xdist workers, which re-run this
hook on the same command line, all behave as for a path typed by hand). A generated collection
(pytest_collection_modifyitems or a custom collector) would need its own node ids and deselection; --pyargs would
have to be typed. When it adds the suites it also sets --confcutdir to their directory (unless given), so no
conftest.py above them -- a stray one in site-packages, the user's project conftest -- is loaded. A pytest
configuration file still applies as pytest finds it (it looks before any plugin loads, from the common ancestor of the
current directory and the matrix file, which it takes for a path); `vllm-compat run` reads none but its own (-c, see
harness.commands.run).

Where things go: the run directory is ``<project>/reports/runs/<run-id>``, the report ``<project>/reports/STATUS.md``
(``--run-dir``, ``--status-file``) and the default matrix ``<project>/matrix.yaml``. The project directory is pytest's
rootdir when pytest found a configuration file (the checkout from any of its subdirectories, a configured project,
`vllm-compat run`'s own file with --rootdir the current directory), and otherwise the current directory (project_dir).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import suites
from harness.results import RESULTS_FILE, EnvironmentRecord, ResultsError, new_run_id, read_results
from harness.usecases import UseCase
from harness.verdicts import Verdict

if TYPE_CHECKING:
    from harness.engine import GpuSpec
    from harness.matrix import Cell, Matrix
    from harness.report import Since
    from harness.runner import CellRunner, Outcome
    from harness.shards import PlannedShard, ShardId

_USE_CASE_HELP: dict[UseCase, str] = {
    UseCase.CHAT: "chat completions, streaming and not, system prompt, multi-turn",
    UseCase.COMPLETIONS: "/v1/completions, streaming and not",
    UseCase.STOP_TOKENS: "generation stops on the end-of-turn token",
    UseCase.TOOLS: "tool calls with tool_choice auto",
    UseCase.VISION: "image input",
    UseCase.VIDEO: "video input",
    UseCase.AUDIO: "speech to text through /v1/audio/transcriptions",
    UseCase.AUDIO_CHAT: "audio input in chat",
    UseCase.EMBEDDINGS: "/v1/embeddings",
    UseCase.TTS: "text to speech (not servable by vLLM)",
    UseCase.IMAGE_GENERATION: "image generation (not servable by vLLM)",
    UseCase.STRUCTURED_OUTPUT: "response_format json_schema / json_object enforced; guided choice and regex",
    UseCase.LONG_CONTEXT: "a prompt at max-model-len accepted, one past it refused (HTTP 400); a needle recalled",
    UseCase.CONCURRENCY: "N simultaneous streams complete, independent, with the latency spread under load",
    UseCase.REASONING: "--reasoning-parser: reasoning apart from content, plain and streamed, no think tags leaked",
    UseCase.RERANK: "/rerank and /score: results sorted, indices and scores; a relevant document ranks first",
    UseCase.LORA: "--lora-modules adapters listed under their base, answering as themselves; unknown names refused",
}


@dataclass
class RunState:
    """Per-process plugin state, kept in the config stash."""

    run_id: str
    run_dir: Path
    status_path: Path
    matrix_arg: str | None
    demo: bool
    project_dir: Path  # where the default matrix.yaml is read from (see project_dir())
    deployment: str | None = None  # --deployment NAME: run that stack's services instead of the matrix's cells
    matrix: Matrix | None = None
    runner: CellRunner | None = None
    cells_run: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def load_matrix(self) -> Matrix | None:
        from harness.matrix import MatrixError, demo_matrix_path, load_matrix

        if self.matrix is None:
            if self.demo:
                path = demo_matrix_path()
            elif self.matrix_arg:
                path = Path(self.matrix_arg)
            else:
                path = self.project_dir / "matrix.yaml"
                if not path.is_file():
                    self.error = f"vllm-compat: {path}: no matrix file (the default); pass --matrix PATH or --demo"
                    return None
            # A user mistake ends the run with the one-line message and the usage exit code, never a traceback:
            # remembered here, raised by pytest_collection_modifyitems (outside any collector that would wrap it).
            try:
                self.matrix = load_matrix(path)
            except MatrixError as error:
                self.error = f"vllm-compat: {error}"
            except FileNotFoundError:
                self.error = f"vllm-compat: {path}: matrix file not found; pass --matrix PATH or --demo"
            if self.matrix is not None and self.deployment and self.deployment not in self.matrix.deployments:
                known = ", ".join(self.matrix.deployments) or "none"
                self.error = (
                    f"vllm-compat: {path}: --deployment {self.deployment!r}: no such deployment "
                    f"(deployments: {known}); fix: name one of them, or add it under 'deployments:'"
                )
        return self.matrix

    def cells(self) -> tuple[Cell, ...]:
        """The cells this run serves: the deployment's services' with --deployment, else the matrix's."""
        matrix = self.load_matrix()
        if matrix is None or self.error is not None:
            return ()
        return matrix.deployments[self.deployment].cells if self.deployment else matrix.cells


RUN_STATE = pytest.StashKey[RunState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vllm-compat", "vllm-compat: model x use case x flags against real vLLM")
    group.addoption(
        "--matrix",
        help="matrix file (default: matrix.yaml in the project directory: the configured rootdir, else the current "
        "directory); with no path given, the suites shipped in the package are collected",
    )
    group.addoption("--demo", action="store_true", help="run the built-in demo matrix over the zoo (CPU engine)")
    group.addoption(
        "--engine-python",
        help="python of the engine environment (default: $VLLM_COMPAT_ENGINE_PYTHON, else the cached environment)",
    )
    group.addoption(
        "--engine-version",
        help="the vLLM version whose cached engine environment runs the matrix (overrides the matrix's "
        "'engine: {vllm: ...}'; build it with `vllm-compat engine build --vllm VERSION`)",
    )
    group.addoption(
        "--run-dir", help="where results.jsonl, logs and STATUS.md go (default <project>/reports/runs/<run-id>)"
    )
    group.addoption("--boot-timeout", type=float, help="seconds a server may take to become ready (overrides matrix)")
    group.addoption(
        "--latency-repeats",
        type=int,
        default=3,
        help="streamed requests per working chat/completions cell for TTFT/TPOT percentiles (0: none; default 3)",
    )
    group.addoption("--offline", action="store_true", help="never contact the hub (HF_HUB_OFFLINE)")
    group.addoption(
        "--dry-boot",
        action="store_true",
        help="boot every server on dummy weights (--load-format dummy) before fetching its weights; by default only "
        "hub models whose weights are not cached yet, or as the matrix's dry_boot: says",
    )
    group.addoption(
        "--deployment",
        metavar="NAME",
        help="verify the matrix's deployment NAME as the stack runs: its services booted one after another, all up "
        "together while their use cases are probed, then probed all at once",
    )
    group.addoption("--status-file", help="where the published STATUS.md goes (default <project>/reports/STATUS.md)")
    group.addoption(
        "--shard",
        metavar="K/N|auto",
        help="run only shard K of N: the matrix split by server, balanced by expected cost, the same on every node "
        "(vllm-compat plan shows the split; vllm-compat merge joins the shards' runs); auto: K and N from the CI job "
        "(Buildkite parallelism, a Kubernetes Indexed Job with VLLM_COMPAT_SHARDS, a Slurm array)",
    )
    group.addoption(
        "--plan",
        metavar="FILE",
        help="with --shard K/N: run exactly the servers this plan file (vllm-compat plan --json --out FILE) gives "
        "shard K, instead of splitting again here; the run records the plan's sha256",
    )
    group.addoption(
        "--history",
        help="history file whose durations balance --shard and against whose previous run STATUS.md lists the new "
        "failures (default: <project>/reports/history.sqlite if it exists)",
    )


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """`--matrix` or `--demo` with no path: collect the shipped suites (the module docstring says why here)."""
    namespace = early_config.known_args_namespace
    if not (namespace.matrix or namespace.demo) or namespace.file_or_dir:
        return
    directory = str(suites.DIRECTORY)
    args.append(directory)
    # pytest's own initial-conftest pass runs after this hook, from the namespace parsed before it: point it here too.
    namespace.file_or_dir = [directory]
    if not any(arg == "--confcutdir" or arg.startswith("--confcutdir=") for arg in args):
        namespace.confcutdir = directory


def project_dir(config: pytest.Config) -> Path:
    """Where reports/ goes and matrix.yaml is looked for: pytest's rootdir when it found a configuration file (the
    checkout, a configured project, or `vllm-compat run`'s own -c with --rootdir), else the current directory.

    Without a configuration file pytest's rootdir is a common ancestor of the current directory and the command line's
    paths -- and before the plugin registers --matrix, pytest takes the matrix file for such a path, so the rootdir
    would wander with the matrix's location.
    """
    return config.rootpath if config.inipath is not None else config.invocation_params.dir


def pytest_configure(config: pytest.Config) -> None:
    for use_case in UseCase:
        config.addinivalue_line(
            "markers",
            f"{use_case.value}: cells of the {use_case.value} use case: {_USE_CASE_HELP[use_case]} "
            f"(e.g. pytest -m {use_case.value})",
        )
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput and "vllm_compat_run_id" in workerinput:
        run_id, run_dir = workerinput["vllm_compat_run_id"], Path(workerinput["vllm_compat_run_dir"])
    else:
        run_id = new_run_id()
        given = config.getoption("--run-dir")
        run_dir = Path(given) if given else project_dir(config) / "reports" / "runs" / run_id
    status = config.getoption("--status-file")
    config.stash[RUN_STATE] = RunState(
        run_id=run_id,
        run_dir=run_dir.resolve(),
        status_path=Path(status) if status else project_dir(config) / "reports" / "STATUS.md",
        matrix_arg=config.getoption("--matrix"),
        demo=bool(config.getoption("--demo")),
        project_dir=project_dir(config),
        deployment=config.getoption("--deployment"),
    )
    if config.getoption("--deployment") and (
        getattr(config.option, "numprocesses", None) or config.getoption("--shard")
    ):
        raise pytest.UsageError(
            "--deployment: a deployment's services run together in one process on one machine; "
            "fix: drop -n / --numprocesses and --shard"
        )
    if config.getoption("--offline"):
        os.environ["HF_HUB_OFFLINE"] = "1"
    if _xdist_controller(config) and (config.getoption("--matrix") or config.getoption("--demo")):
        _install_interrupts(config, forward_to_children=True)  # the workers hold the engines: pass signals on


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the signals back; as the last step of the run, kill any engine a dead process left (xdist workers
    killed before their teardown finished)."""
    state = config.stash.get(RUN_STATE, None)
    if state is None or not state.extra.get("interrupts"):
        return
    from harness.runner import interrupts
    from harness.server import groups

    interrupts.uninstall()
    if not hasattr(config, "workerinput"):
        reaped = groups.reap(state.run_dir)
        if reaped:
            print(f"vllm-compat: killed engine group(s) {reaped} that a teardown left behind", file=sys.stderr)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller -> worker: every worker writes into the same run directory under the same run id."""
    state = node.config.stash[RUN_STATE]
    node.workerinput["vllm_compat_run_id"] = state.run_id
    node.workerinput["vllm_compat_run_dir"] = str(state.run_dir)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    use_case = getattr(metafunc.module, "USE_CASE", None)
    if use_case is None:
        raise pytest.UsageError(f"{metafunc.module.__file__}: a suite module must set USE_CASE")
    cells = [c for c in metafunc.config.stash[RUN_STATE].cells() if c.use_case.value == use_case]
    metafunc.parametrize(
        "cell",
        [
            pytest.param(
                c, id=c.id, marks=[getattr(pytest.mark, c.use_case.value), pytest.mark.xdist_group(c.server_key)]
            )
            for c in cells
        ],
    )


def _cell_of(item: pytest.Item) -> Cell | None:
    from harness.matrix import Cell

    callspec = getattr(item, "callspec", None)
    cell = callspec.params.get("cell") if callspec is not None else None
    return cell if isinstance(cell, Cell) else None  # an empty parameter set holds a placeholder, not a cell


@pytest.hookimpl(trylast=True)  # after -m / -k deselection, so only the cells that will run are planned
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group each server's cells together so a server is stopped before the next one boots; biggest servers first."""
    error = config.stash[RUN_STATE].error or _fleet_error()
    if error is not None:
        pytest.exit(error, returncode=pytest.ExitCode.USAGE_ERROR)
    from harness.fleet import server_needs

    first_seen: dict[str, int] = {}
    extra_gpus: dict[str, int] = {}
    for index, item in enumerate(items):
        cell = _cell_of(item)
        if cell is not None:
            first_seen.setdefault(cell.server_key, index)
            # GPUs beyond the first: 0 for one-GPU servers and endpoint cells, which keep their collected order
            extra_gpus.setdefault(cell.server_key, server_needs(cell.flags).gpus - 1 if cell.endpoint is None else 0)

    def order(pair: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        """The biggest servers first (most GPUs: the node scheduler packs smaller ones around them), each server's
        cells together, otherwise as collected."""
        index, item = pair
        cell = _cell_of(item)
        if cell is None:
            return (0, index, index)
        return (-extra_gpus[cell.server_key], first_seen[cell.server_key], index)

    # A suite whose use case has no cell in this matrix collects a placeholder: deselect it instead of a SKIP line.
    empty = [i for i in items if "cell" in getattr(getattr(i, "callspec", None), "params", {}) and _cell_of(i) is None]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [i for i in items if i not in empty]
    items[:] = [item for _, item in sorted(enumerate(items), key=order)]
    if config.getoption("--plan") and not config.getoption("--shard"):
        pytest.exit(
            f"vllm-compat: --plan {config.getoption('--plan')}: needs --shard K/N (which of the plan's shards to run)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    if config.getoption("--shard"):
        _keep_this_shard(config, items)
    cells = [c for c in (_cell_of(i) for i in items) if c is not None]
    config.stash[RUN_STATE].extra["planned"] = cells
    if cells:
        _install_interrupts(config, forward_to_children=False)


def _keep_this_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--shard K/N: deselect the cells of servers another shard owns (the split: harness.shards), so this run plans,
    runs and reports only its own; the environment line records the shard and the split."""
    from harness.shards import ShardError, resolve_shard

    state = config.stash[RUN_STATE]
    matrix = state.load_matrix()
    if matrix is None:
        return
    try:
        shard = resolve_shard(config.getoption("--shard"), os.environ)
        planned = _planned_shard(config, matrix, shard)
    except ShardError as error:
        pytest.exit(f"vllm-compat: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
    mine = set(planned.servers)
    others = [i for i in items if (cell := _cell_of(i)) is not None and cell.server_key not in mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [i for i in items if i not in others]
    state.extra["shard"] = {
        "shard": str(shard),
        "plan": planned.plan_sha256,
        "cost_source": planned.cost_source,
        "assignment": planned.assignment,
    }
    if not mine:  # more shards than servers: an empty run that merge still counts as this shard
        from harness.engine import environment_record, resolve_engine_python
        from harness.results import append_record

        state.run_dir.mkdir(parents=True, exist_ok=True)
        engine_python = resolve_engine_python(config.getoption("--engine-python"))
        _write_environment_once(state, engine_python, matrix, environment_record, append_record)


def _planned_shard(config: pytest.Config, matrix: Matrix, shard: ShardId) -> PlannedShard:
    """This shard's servers: the plan file's when --plan names one (the plan job's split, whatever this node would
    compute), else the split computed here from the costs this node sees."""
    from harness.shards import PlannedShard, estimate_costs, history_path, make_plan, planned_shard

    given_plan = config.getoption("--plan")
    if given_plan:
        return planned_shard(Path(given_plan), matrix, shard)
    state = config.stash[RUN_STATE]
    given = config.getoption("--history")
    history = history_path(Path(given) if given else None, state.project_dir)
    costs = estimate_costs(matrix, history=history, offline=bool(config.getoption("--offline")))
    plan = make_plan(matrix, shard.total, costs)
    assignment = {str(s.id): tuple(s.servers) for s in plan.shards}
    return PlannedShard(shard, plan.shard(shard.index).servers, plan.sha256, plan.cost_source, assignment)


def _fleet_error() -> str | None:
    """A GPU setting from the environment the node scheduler cannot read (VLLM_COMPAT_GPUS, its waits), as the
    run's one-line usage error instead of a traceback in every server's boot."""
    from harness.fleet import InventoryError, NodeScheduler

    try:
        NodeScheduler.from_environment()
    except InventoryError as error:
        return f"vllm-compat: {error}"
    return None


def _install_interrupts(config: pytest.Config, *, forward_to_children: bool) -> None:
    """SIGINT / SIGTERM end the run with every engine stopped (harness.runner.interrupts), once per process."""
    state = config.stash[RUN_STATE]
    if state.extra.get("interrupts"):
        return
    from harness.runner import interrupts

    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(text: str) -> None:  # past pytest's capture: the user must see why the run stops
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            print(f"\nvllm-compat: {text}", file=sys.stderr, flush=True)

    interrupts.reset()
    state.extra["interrupts"] = interrupts.install(forward_to_children=forward_to_children, say=say)


def _xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


@pytest.fixture(scope="session")
def cell_runner(request: pytest.FixtureRequest) -> Iterator[CellRunner]:
    """The process's CellRunner: pre-flight cache, servers, results writer."""
    from harness.engine import environment_record, resolve_engine_python
    from harness.results import append_record
    from harness.runner import CellRunner, Progress

    config = request.config
    state = config.stash[RUN_STATE]
    matrix = state.load_matrix()
    assert matrix is not None  # a matrix error ended the run at collection
    engine_version = config.getoption("--engine-version") or matrix.engine_version
    engine_python = resolve_engine_python(config.getoption("--engine-python"), engine_version)
    if engine_python is None and engine_version and not config.getoption("--engine-python"):
        pytest.exit(
            f"no engine environment for vLLM {engine_version} (named by "
            f"{'--engine-version' if config.getoption('--engine-version') else matrix.path.name + ' engine.vllm'}): "
            f"build it with `vllm-compat engine build --vllm {engine_version}`",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    state.run_dir.mkdir(parents=True, exist_ok=True)
    _write_environment_once(state, engine_python, matrix, environment_record, append_record)
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    capture = config.pluginmanager.get_plugin("capturemanager")
    on_worker = hasattr(config, "workerinput")

    def uncaptured() -> contextlib.AbstractContextManager[object]:
        """Output from inside a test reaches the terminal only past pytest's capture."""
        return capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()

    def write_line(line: str) -> None:
        if reporter is None or on_worker:
            print(line, file=sys.stderr, flush=True)  # xdist workers have no terminal: their stderr is kept
            return
        with uncaptured():
            reporter.ensure_newline()
            reporter.write_line(f"  {line}")

    live = reporter is not None and not on_worker and bool(reporter.isatty)
    offline = True if config.getoption("--offline") else None
    extra_env: dict[str, str] = {}  # GPUs come per server from the node scheduler (harness.fleet), not per worker
    runner = CellRunner(
        extra_env=extra_env,
        gpu=_runner_gpu(extra_env),
        run_id=state.run_id,
        run_dir=state.run_dir,
        engine_python=engine_python,
        offline=offline,
        boot_timeout=config.getoption("--boot-timeout"),
        progress=Progress(write_line, uncaptured=uncaptured, live=live),
        latency_repeats=config.getoption("--latency-repeats"),
        dry_boot=bool(config.getoption("--dry-boot")),
    )
    runner.plan(state.extra.get("planned", []))
    state.runner = runner
    stack = None
    try:
        if state.deployment:
            from harness.deploy import DeploymentRun

            stack = DeploymentRun(runner, matrix.deployments[state.deployment])
            stack.boot()  # every service up, one after another, before the first cell runs
        yield runner
        if stack is not None:
            stack.finish()  # the concurrent phase, then every service stopped and the deployment recorded
    finally:
        runner.close()


def _runner_gpu(extra_env: dict[str, str]) -> GpuSpec | None:
    """The GPU pre-flight judges a server against before its lease names its GPUs: NVML's GPU 0 with the count
    CUDA_VISIBLE_DEVICES leaves this process (once leased, the runner judges the leased GPUs); None with no
    NVIDIA GPU (then only a lease's GPUs are judged)."""
    from harness.engine import detect_gpu

    gpu = detect_gpu()
    visible = extra_env.get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"))
    if gpu is None or visible is None:
        return gpu
    ids = [v for v in visible.split(",") if v.strip()]
    return replace(gpu, count=len(ids)) if ids else None


def _write_environment_once(
    state: RunState,
    engine_python: Path | None,
    matrix: Matrix,
    record: Callable[..., EnvironmentRecord],
    append: Callable[[Path, EnvironmentRecord], None],
) -> None:
    """The first process into the run directory writes the environment line (xdist workers race for it)."""
    marker = state.run_dir / ".environment"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    environment = record(
        run_id=state.run_id, engine_python=engine_python, matrix_path=matrix.path, matrix_sha256=matrix.sha256
    )
    shard = state.extra.get("shard")
    if shard:
        environment = replace(
            environment,
            shard=shard["shard"],
            shard_plan_sha256=shard["plan"],
            shard_cost_source=shard["cost_source"],
            shard_plan=shard["assignment"],
        )
    append(state.run_dir / RESULTS_FILE, environment)


def enforce(outcome: Outcome) -> None:
    """Turn a cell's Outcome into the pytest outcome: a FAIL fails the test, an XPASS too (strict: it is news)."""
    from harness.redact import redact

    text = f"{outcome.code}: {outcome.message}" if outcome.code else outcome.message
    if outcome.evidence and outcome.evidence not in text:
        text += f"\n  evidence: {outcome.evidence}"
    text = redact(text)  # an endpoint may quote the key it was sent
    if outcome.verdict is Verdict.PASS:
        return
    if outcome.verdict is Verdict.XFAIL:
        pytest.xfail(text)
    if outcome.verdict is Verdict.SKIP:
        pytest.skip(text)
    if outcome.verdict is Verdict.XPASS:
        pytest.fail(f"XPASS(strict) {text}", pytrace=False)
    if outcome.verdict is Verdict.ERROR:
        pytest.fail(f"ERROR (harness) {text}", pytrace=False)
    pytest.fail(text, pytrace=False)


def run_cell(cell: Cell, runner: CellRunner) -> None:
    """What every suite's test does: run the cell, record it, enforce its verdict. A results file that cannot be
    written (full disk, read-only run directory) ends the run with its one line: the servers are still stopped."""
    from harness.results import ResultsWriteError

    try:
        outcome = runner.run(cell)
    except ResultsWriteError as error:
        pytest.exit(f"vllm-compat: {error}", returncode=pytest.ExitCode.INTERNAL_ERROR)
    enforce(outcome)


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down: every server stopped and recorded
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(RUN_STATE, None)
    if state is not None and state.extra.get("interrupts"):
        from harness.runner import interrupts

        planned = state.extra.get("planned", [])
        if interrupts.STATE.signum is not None and planned and state.run_dir.is_dir():
            interrupts.record_not_run(state.run_dir, state.run_id, planned, interrupts.STATE.signum)
    if hasattr(config, "workerinput"):
        return
    if state is None or not (state.run_dir / RESULTS_FILE).exists():
        return
    from harness.report import write_reports

    # A file this harness cannot read (a newer schema_version): the terminal summary prints the one-line reason.
    with contextlib.suppress(ResultsError):
        try:
            write_reports(state.run_dir, status_path=state.status_path, since=_since(config, state))
        except OSError as error:  # a full disk or a read-only directory: say which file, keep the run's exit status
            print(
                f"vllm-compat: no report: cannot write {error.filename or state.run_dir}: {error.strerror}",
                file=sys.stderr,
            )


def _since(config: pytest.Config, state: RunState) -> Since | None:
    """This run against the previous one on its machine in the history file, for STATUS.md's new failures; None
    without a history file or an earlier run. A history that cannot be read leaves the report without them."""
    import sqlite3

    from harness.history import HistoryError, HistoryStore, new_failures
    from harness.report import Since
    from harness.shards import history_path

    given = config.getoption("--history")
    path = history_path(Path(given) if given else None, state.project_dir)
    if path is None or not path.is_file():
        return None
    try:
        with HistoryStore.open(path, create=False) as store:
            found = new_failures(store, read_results(state.run_dir))
    except (HistoryError, sqlite3.Error) as error:
        print(f"vllm-compat: STATUS.md without new failures: {path}: {error}", file=sys.stderr)
        return None
    return Since(found[0].run_id, found[1]) if found is not None else None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    state = config.stash.get(RUN_STATE, None)
    if state is None or not (state.run_dir / RESULTS_FILE).exists():
        return
    from rich.console import Console
    from rich.table import Table

    from harness.report import deployment_lines, headline

    try:
        results = read_results(state.run_dir)
    except ResultsError as error:
        terminalreporter.write_line(f"vllm-compat: no report: {error}", red=True)
        return
    if not results.cells:
        return
    style = {
        Verdict.PASS: "green",
        Verdict.FAIL: "red",
        Verdict.ERROR: "bold red",
        Verdict.SKIP: "yellow",
        Verdict.XFAIL: "cyan",
        Verdict.XPASS: "magenta",
        Verdict.NOT_RUN: "yellow",
    }
    table = Table(title="vllm-compat", show_lines=False)
    table.add_column("cell", overflow="fold")
    for column in ("verdict", "code", "boot s", "probe s"):
        table.add_column(column, no_wrap=True)
    for cell in sorted(results.cells, key=lambda c: c.cell_id):
        timings = cell.timings
        table.add_row(
            cell.cell_id,
            f"[{style[cell.verdict]}]{cell.verdict}[/]",
            cell.code or "",
            f"{timings['boot_s']:.1f}" if "boot_s" in timings else "",
            f"{timings['probe_s']:.2f}" if "probe_s" in timings else "",
        )
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminalreporter.isatty(), width=terminalreporter._tw.fullwidth)
    console.print(table)
    for line in deployment_lines(results):
        console.print(line.replace("**", ""))
    console.print(headline(results).replace("**", ""))
    console.print(f"report: {state.status_path}  (run: {state.run_dir})")
    terminalreporter.write(buffer.getvalue())
