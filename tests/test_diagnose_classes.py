"""diagnose reads a class of failure by its principle, not one thread's words: a generation that does not end, in the
many ways people report it; NCCL's own error strings however a paste spaced them; CUDA's peer-access errors between the
workers' GPUs. Each phrasing below is one no fixture uses."""

from __future__ import annotations

import pytest

from harness.diagnose import diagnose


@pytest.mark.parametrize(
    "report",
    [
        "InternLM-Chat-7B's outputs can't stop properly after SFT under vLLM",  # "n't" glued to its verb
        "codellama 70b don't stop generating",
        "Mistral doesn't end its answer, it goes on and on",
        "While serving BLIP-2 the model kept repeating the output in a loop",
        "Qwen keeps generating after the answer",
        "the model repeats itself endlessly",
        "I get endless output from the fine-tune",
        "every response runs on until it hits max_tokens",
        "it never finishes the response when streaming",
        "the eos_token_id of generation_config.json is ignored",  # the topic alone, no symptom
        "it emits <|im_end|> but the end-of-turn token is not used to stop",
    ],
)
def test_a_generation_that_does_not_end_is_eos_mismatch_however_it_is_worded(report: str) -> None:
    result = diagnose(f"# {report}\n\nvllm serve ./model\n")
    assert result.code == "EOS_MISMATCH"
    assert result.line == 1


@pytest.mark.parametrize(
    "report",
    [
        "the server doesn't stop when I press Ctrl-C",  # a process that does not stop is not a generation
        "the download does not end",
    ],
)
def test_a_process_that_does_not_stop_is_not_eos_mismatch(report: str) -> None:
    assert diagnose(f"{report}\n").code == "OTHER"


def test_an_account_of_the_symptom_never_outranks_a_failure_in_the_log() -> None:
    """Beside a traceback, "generation never stops" is the user's account, not the cause: the unrecognised exception
    is named as OTHER's decisive line rather than guessing EOS_MISMATCH."""
    text = (
        "After the upgrade the generation never stops and then the server crashes:\n"
        "Traceback (most recent call last):\n"
        '  File "/x/vllm/engine.py", line 3, in step\n'
        "RuntimeError: some failure no rule knows\n"
    )
    result = diagnose(text)
    assert (result.code, result.line) == ("OTHER", 4)


@pytest.mark.parametrize(
    "line",
    [
        # NCCL's own error strings (ncclGetErrorString), with the spacing a paste or an OCR lost
        "VllM : NCCLerror: unhandled system error (run withNCCL DEBUG=INFo for details)",
        "RuntimeError: ProcessGroupNCCL.cpp:1191, unhandled system error (run with NCCL_DEBUG=INFO for details)",
        "DistBackendError: c10d/NCCLUtils.hpp:317, remote process exited or there was a network error, NCCL 2.21.5",
        "RuntimeError: internal error - please report this issue to the NCCL developers",
        "RuntimeError: invalid usage (run with NCCL_DEBUG=WARN for details), NCCL version 2.20.5",
        # NCCL's shared-memory transport in a container with a small /dev/shm
        "misc/shmutils.cc:72 NCCL WARN Error: failed to extend /dev/shm/nccl-KJzBl0 to 9637892 bytes",
        "include/shm.h:48 NCCL WARN Error while creating shared memory segment /dev/shm/nccl-x (size 9637888)",
        # the CUDA runtime's peer-access errors between the workers' devices
        "RuntimeError: CUDA error: peer access is not supported between these two devices",
        "transport/p2p.cc:275 NCCL WARN Cuda failure 'peer access is not supported between these two devices'",
        "RuntimeError: CUDA error: peer access has not been enabled",
        "cudaErrorPeerAccessUnsupported",
        # torch's watchdog: a collective that never completed
        "[rank1]:[E ProcessGroupNCCL.cpp:563] Watchdog caught collective operation timeout: "
        "WorkNCCL(SeqNum=5, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600003 milliseconds "
        "before timing out.",
    ],
)
def test_nccl_and_peer_access_failures_are_nccl_error(line: str) -> None:
    result = diagnose(f"INFO 01-01 00:00:00 [x.py:1] starting\n{line}\n")
    assert (result.code, result.line) == ("NCCL_ERROR", 2)


def test_a_cuda_cause_inside_nccl_hint_still_wins() -> None:
    """NCCL's "unhandled cuda error (run with NCCL_DEBUG=INFO ...)" is a report: the CUDA failure it relays is the
    cause, and the NCCL_DEBUG hint does not make the report outrank it."""
    text = (
        "RuntimeError: NCCL error: unhandled cuda error (run with NCCL_DEBUG=INFO for details)\n"
        "Last error: Cuda failure 'forward compatibility was attempted on non supported HW'\n"
    )
    assert diagnose(text).code == "CUDA_DRIVER"


def test_a_watchdog_timeout_is_below_the_rank_failure_it_echoes() -> None:
    """A collective timing out on one rank is often another rank's own failure: that failure wins."""
    text = (
        "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        "[rank1]:[E ProcessGroupNCCL.cpp:563] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5)\n"
    )
    assert diagnose(text).code == "OOM"


@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: FlashAttention only supports Ampere GPUs or newer.",
        "ValueError: Cannot use FA version 2 is not supported due to FA2 is only supported on devices with compute "
        "capability >= 8",
        "RuntimeError: this kernel requires compute capability >= 9.0",
    ],
)
def test_a_kernel_that_needs_a_newer_gpu_is_gpu_arch_unsupported(line: str) -> None:
    assert diagnose(f"{line}\n").code == "GPU_ARCH_UNSUPPORTED"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        # a dtype or a quantization kernel too new for the GPU keeps its own code
        (
            "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0.",
            "DTYPE_UNSUPPORTED",
        ),
        (
            "ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 89.",
            "QUANT_UNSUPPORTED",
        ),
        ("RuntimeError: FP8 Marlin requires compute capability 7.5 or higher", "OTHER"),
    ],
)
def test_a_dtype_or_quantization_capability_check_is_not_read_as_the_gpu_architecture(line: str, code: str) -> None:
    assert diagnose(f"{line}\n").code == code


def test_no_tokenizer_files_is_tokenizer_missing_below_the_hub_refusal_it_follows() -> None:
    missing = (
        "OSError: Can't load tokenizer for '/models/ft'. Make sure '/models/ft' is the correct path to a directory\n"
    )
    assert diagnose(missing).code == "TOKENIZER_MISSING"
    refused = "huggingface_hub.errors.GatedRepoError: 403 Client Error. Cannot access gated repo for url x\n" + missing
    assert diagnose(refused).code == "HUB_AUTH"


_CUT_TRACEBACK = (
    "ERROR 04-01 15:18:36 [core.py:343] EngineCore failed to start.\n"
    "ERROR 04-01 15:18:36 [core.py:343] Traceback (most recent call last):\n"
    'ERROR 04-01 15:18:36 [core.py:343]   File "/venv/vllm/multimodal/registry.py", line 9, in create_processor\n'
    "ERROR 04-01 15:18:36 [core.py:343]     return factories.build_processor(ctx, cache=cache)\n"
    'ERROR 04-01 15:18:36 [core.py:343]   File "/venv/transformers/models/auto/image_processing_auto.py", line 5, in '
    "from_pretrained\n"
    "ERROR 04-01 15:18:36 [core.py:343]     config_dict, _ = ImageProcessingMixin.get_image_processor_dict(x)\n"
)


def test_a_traceback_cut_short_in_processor_loading_is_processor_missing() -> None:
    """The paste stopped before the exception line: the innermost frame (transformers' image processor loading)
    names the step, and its usual failure is a processor config the checkpoint lacks."""
    result = diagnose(_CUT_TRACEBACK)
    assert (result.code, result.line) == ("PROCESSOR_MISSING", 5)


def test_a_finished_traceback_is_read_by_its_exception_not_its_frames() -> None:
    """With the exception line present, the frames say nothing: an unknown exception stays an honest OTHER."""
    text = _CUT_TRACEBACK + "ERROR 04-01 15:18:36 [core.py:343] RuntimeError: something no rule knows\n"
    assert diagnose(text).code == "OTHER"


def test_a_traceback_cut_short_elsewhere_names_no_cause() -> None:
    text = 'Traceback (most recent call last):\n  File "/venv/vllm/worker/model_runner.py", line 3, in load_model\n'
    assert diagnose(text).code == "OTHER"


@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: Device string must not be empty",  # vLLM's UnspecifiedPlatform has no device type
        "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory",
        "OSError: libnvidia-ml.so.1: cannot open shared object file: No such file or directory",
        "pynvml.NVMLError_LibraryNotFound: NVML Shared Library Not Found",
    ],
)
def test_no_driver_or_platform_is_no_gpu(line: str) -> None:
    assert diagnose(f"{line}\n").code == "NO_GPU"


def test_a_missing_toolkit_library_stays_a_broken_environment() -> None:
    line = "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory\n"
    assert diagnose(line).code == "ENV_IMPORT_BROKEN"


def test_an_account_of_the_symptom_never_outranks_a_kill_or_any_other_cause() -> None:
    """A kill line, or even a vague cause, is what the log shows failing; the account of a symptom is not."""
    killed = "the model keeps generating until the box dies\nKilled\n"
    assert diagnose(killed).code == "PROC_KILLED"
    assert diagnose("the model keeps generating\n", exit_code=137).code == "PROC_KILLED"
    vague = "the model keeps generating\nOSError: Invalid repository ID or local directory specified: './m'\n"
    assert diagnose(vague).code == "CONFIG_MISSING"


def test_a_config_dump_naming_the_eos_token_id_is_data_not_a_report() -> None:
    dump = 'GenerationConfig {\n  "bos_token_id": 1,\n  "eos_token_id": 2,\n  "pad_token_id": 0\n}\n'
    assert diagnose(dump).code == "OTHER"
    assert diagnose("sampling: SamplingParams(n=1, stop_token_ids=[2], eos_token_id=2)\n").code == "OTHER"


@pytest.mark.parametrize(
    "line",
    [
        'data: {"id": "cmpl-1", "choices": [{"index": 0, "text": " Hope this helps!<|im_end|>\\n<|im_start|>user"}]}',
        "Output: 'The capital of France is Paris.<|eot_id|><|start_header_id|>assistant<|end_header_id|>'",
    ],
)
def test_an_end_of_turn_token_inside_generated_text_is_eos_mismatch(line: str) -> None:
    """The model's end-of-turn token printed as text: vLLM did not stop on it."""
    assert diagnose(f"{line}\n").code == "EOS_MISMATCH"


def test_an_end_of_turn_token_in_a_prompt_or_a_template_is_not_a_symptom() -> None:
    assert diagnose("prompt: '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'\n").code == "OTHER"
    template = "jinja2.exceptions.TemplateSyntaxError: unexpected '}' in {{ message.content + '<|im_end|>' }\n"
    assert diagnose(template).code == "TEMPLATE_ERROR"
