"""The ``deployments:`` section: stacks of services, each a ``models:`` entry as the stack runs it.

```yaml
deployments:
  stack:
    description: the agent and the base model on one GPU
    services:
      - name: agent                   # default: the model's name
        model: chat-ok                # a name from models:
        use_cases: [chat]             # default: all of the model's; only ones the model lists
        gpu-memory-utilization: 0.45  # its share of each GPU it is on (default: the model's flag)
        gpus: [0]                     # pinned through CUDA_VISIBLE_DEVICES (default: the first ones, as vLLM picks)
        port: 8000                    # the stack's port (recorded; the harness boots on a port it owns)
        flags: {}                     # more vLLM flags over the model's
        env: {}                       # more engine environment over the model's
```

Rules: the model is a ``models:`` entry, its use cases are among the model's, service names and ports are unique
in a deployment, and the shares of the services on one GPU add up to at most 1.0 (vLLM budgets each engine's memory
as the GPU's total x its share, so shares over 1.0 cannot all be honoured).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from yaml.nodes import Node, ScalarNode

from harness.matrix.spec import DEFAULT_PROFILE, Deployment, FrozenMap, ModelSpec, Service, merge_flags
from harness.matrix.yaml_nodes import NodeReader, closest
from harness.usecases import UseCase

DEPLOYMENT_KEYS = ("description", "services")
SERVICE_KEYS = ("name", "model", "profile", "use_cases", "gpu-memory-utilization", "gpus", "port", "flags", "env")
SHARE_FLAG = "gpu-memory-utilization"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # no dots: '<deployment>.<service>' names the service's cells
_SHARE_SLACK = 1e-9  # 0.3 + 0.3 + 0.4 is 1.0000000000000002 in floating point


class DeploymentsReader:
    """Reads ``deployments:`` with the loader's own rules for flags, env and use cases (one set of rules)."""

    def __init__(
        self,
        reader: NodeReader,
        *,
        flags: Callable[[Node, str], FrozenMap[str, Any]],
        env: Callable[[Node, str], FrozenMap[str, Any]],
        use_case: Callable[[Node, str], UseCase],
    ) -> None:
        self.reader = reader
        self.read_flags = flags
        self.read_env = env
        self.read_use_case = use_case

    def deployments(self, node: Node, models: tuple[ModelSpec, ...]) -> FrozenMap[str, Deployment]:
        r = self.reader
        if isinstance(node, ScalarNode) and r.value(node, "deployments") is None:
            return FrozenMap()
        out: dict[str, Deployment] = {}
        for name, key_node, value in r.mapping(node, "deployments", None, "deployment name: {services: [...]}"):
            key = f"deployments.{name}"
            if not _NAME_RE.match(name):
                fixed = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "stack"
                r.fail(key_node, key, f"deployment names must match [a-z0-9][a-z0-9_-]*, got {name!r}; fix: {fixed!r}")
            out[name] = self.deployment(value, key, name, models)
        return FrozenMap(out)

    def deployment(self, node: Node, key: str, name: str, models: tuple[ModelSpec, ...]) -> Deployment:
        r = self.reader
        entries = {n: (k, v) for n, k, v in r.mapping(node, key, DEPLOYMENT_KEYS, "deployment keys")}
        description = ""
        if "description" in entries:
            description = r.text(entries["description"][1], f"{key}.description", "write free text")
        if "services" not in entries:
            r.fail(node, f"{key}.services", "missing; fix: list the services, e.g. services: [{model: NAME}]")
        items = r.sequence(entries["services"][1], f"{key}.services", "services")
        if not items:
            r.fail(entries["services"][1], f"{key}.services", "empty; fix: list at least one service")
        services: list[Service] = []
        names: dict[str, str] = {}
        ports: dict[int, str] = {}
        taken = {m.name for m in models}
        for index, item in enumerate(items):
            sub = f"{key}.services[{index}]"
            service = self.service(item, sub, name, models)
            if service.name in names:
                r.fail(
                    item,
                    f"{sub}.name",
                    f"duplicate service name {service.name!r} (also {names[service.name]}); "
                    "fix: give one of them a distinct 'name:'",
                )
            if service.model.name in taken:
                r.fail(
                    item,
                    f"{sub}.name",
                    f"the service's cells would be named {service.model.name!r}, which is a model's name; "
                    "fix: rename the service or the model",
                )
            if service.port is not None and service.port in ports:
                r.fail(
                    item,
                    f"{sub}.port",
                    f"duplicate port {service.port} (also {ports[service.port]}); "
                    "fix: give each service its own port, as the stack must",
                )
            names[service.name] = sub
            if service.port is not None:
                ports[service.port] = sub
            services.append(service)
        self.shares_fit(node, key, services)
        return Deployment(name, tuple(services), f"{r.shown}:{node.start_mark.line + 1}", description)

    def service(self, node: Node, key: str, deployment: str, models: tuple[ModelSpec, ...]) -> Service:
        r = self.reader
        entries = {n: (k, v) for n, k, v in r.mapping(node, key, SERVICE_KEYS, "service keys")}
        if "model" not in entries:
            r.fail(node, f"{key}.model", "missing; fix: add 'model:' with the name of a models: entry")
        model_node = entries["model"][1]
        wanted = r.text(model_node, f"{key}.model", "write the name of a models: entry")
        by_name = {m.name: m for m in models}
        model = by_name.get(wanted)
        if model is None:
            known = sorted(by_name)
            r.fail(
                model_node,
                f"{key}.model",
                f"unknown model {wanted!r}; models: {', '.join(known)}; fix: {closest(wanted, known)}"
                "name a models: entry (its name:, or the name derived from its id)",
            )

        name = model.name
        if "name" in entries:
            name = r.text(entries["name"][1], f"{key}.name", "write a short name such as 'agent'")
        if not _NAME_RE.match(name):
            fixed = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "service"
            r.fail(
                entries["name"][1] if "name" in entries else node,
                f"{key}.name",
                f"service names must match [a-z0-9][a-z0-9_-]*, got {name!r}; fix: write 'name: {fixed}'",
            )

        profile = DEFAULT_PROFILE
        if "profile" in entries:
            profile = r.text(entries["profile"][1], f"{key}.profile", "write one of the model's profiles")
            if profile not in model.profile_names:
                r.fail(
                    entries["profile"][1],
                    f"{key}.profile",
                    f"model {model.name!r} has no profile {profile!r}; profiles: {', '.join(model.profile_names)}; "
                    "fix: use one of them",
                )

        use_cases = model.use_cases
        if "use_cases" in entries:
            uc_node = entries["use_cases"][1]
            listed: list[UseCase] = []
            for index, item in enumerate(r.sequence(uc_node, f"{key}.use_cases", "use cases")):
                sub = f"{key}.use_cases[{index}]"
                use_case = self.read_use_case(item, sub)
                if use_case not in model.use_cases:
                    r.fail(
                        item,
                        sub,
                        f"model {model.name!r} does not list '{use_case}' (its use_cases: "
                        f"{', '.join(model.use_cases)}); fix: add it to the model's use_cases or remove it here",
                    )
                if use_case in listed:
                    r.fail(item, sub, f"duplicate use case '{use_case}'; fix: list it once")
                listed.append(use_case)
            if not listed:
                r.fail(uc_node, f"{key}.use_cases", "empty; fix: list the use cases the service must serve")
            use_cases = tuple(listed)

        extra = self.read_flags(entries["flags"][1], f"{key}.flags") if "flags" in entries else FrozenMap()
        flags = merge_flags(model.profile_flags(profile), extra)
        share: float | None = None
        if "gpu-memory-utilization" in entries:
            share_node = entries["gpu-memory-utilization"][1]
            if SHARE_FLAG in extra:
                r.fail(
                    share_node,
                    f"{key}.{SHARE_FLAG}",
                    "given twice (also under flags:); fix: keep the service's gpu-memory-utilization key only",
                )
            value = r.value(share_node, f"{key}.{SHARE_FLAG}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                r.expected(share_node, f"{key}.{SHARE_FLAG}", "expected a fraction in (0, 1]", value, "write e.g. 0.45")
            share = float(value)
            flags = merge_flags(flags, {SHARE_FLAG: share})
        elif isinstance(flags.get(SHARE_FLAG), int | float):
            share = float(flags[SHARE_FLAG])

        env = model.env
        if "env" in entries:
            env = merge_flags(env, self.read_env(entries["env"][1], f"{key}.env"))

        gpus: tuple[int, ...] | None = None
        if "gpus" in entries:
            gpus = self.gpus(entries["gpus"][1], f"{key}.gpus", flags, env)
            env = merge_flags(env, {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus)})

        port: int | None = None
        if "port" in entries:
            port_node = entries["port"][1]
            value = r.value(port_node, f"{key}.port")
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                r.expected(port_node, f"{key}.port", "expected a TCP port 1-65535", value, "write e.g. 8000")
            port = value

        where = f"{r.shown}:{node.start_mark.line + 1}"
        spec = replace(
            model,
            name=f"{deployment}.{name}",
            use_cases=use_cases,
            flags=flags,
            profiles=FrozenMap(),
            env=env,
            expect=FrozenMap({u: c for u, c in model.expect.items() if u in use_cases}),
            required=frozenset(u for u in model.required if u in use_cases),
            endpoints=FrozenMap({u: e for u, e in model.endpoints.items() if u in use_cases}),
            where=where,
            share_gpu=True,  # co-resident by design: each service leases its share of its GPUs (harness.fleet)
        )
        return Service(name, spec, model.name, profile, share, gpus, port, where)

    def gpus(self, node: Node, key: str, flags: Mapping[str, Any], env: Mapping[str, Any]) -> tuple[int, ...]:
        r = self.reader
        items = r.sequence(node, key, "GPU indices")
        values: list[int] = []
        for index, item in enumerate(items):
            value = r.value(item, f"{key}[{index}]")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                r.expected(item, f"{key}[{index}]", "expected a GPU index >= 0", value, "write e.g. [0]")
            if value in values:
                r.fail(item, f"{key}[{index}]", f"GPU {value} listed twice; fix: list it once")
            values.append(value)
        if not values:
            r.fail(node, key, "empty; fix: list the GPU indices the service is pinned to, e.g. [0], or remove gpus:")
        if env.get("CUDA_VISIBLE_DEVICES") is not None:
            r.fail(
                node,
                key,
                f"the service's env also sets CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r}; "
                "fix: pin the GPUs in one place (gpus:)",
            )
        tp = int(flags.get("tensor-parallel-size") or 1) * int(flags.get("pipeline-parallel-size") or 1)
        if tp > len(values):
            r.fail(
                node,
                key,
                f"{len(values)} GPU(s) for tensor x pipeline parallel size {tp}; fix: pin {tp} GPUs or lower the size",
            )
        return tuple(values)

    def shares_fit(self, node: Node, key: str, services: list[Service]) -> None:
        """On each GPU, the services' gpu-memory-utilization shares add up to at most 1.0."""
        by_gpu: dict[int, list[Service]] = {}
        for service in services:
            for gpu in service.devices:
                by_gpu.setdefault(gpu, []).append(service)
        for gpu, sharing in sorted(by_gpu.items()):
            if len(sharing) < 2:
                continue
            unknown = [s.name for s in sharing if s.share is None]
            if unknown:
                self.reader.fail(
                    node,
                    f"{key}.services",
                    f"GPU {gpu} is shared by {', '.join(s.name for s in sharing)} but {', '.join(unknown)} "
                    f"give(s) no {SHARE_FLAG} (vLLM's default claims most of the GPU); "
                    f"fix: give each service on GPU {gpu} its {SHARE_FLAG} share",
                )
            total = sum(s.share or 0.0 for s in sharing)
            if total > 1.0 + _SHARE_SLACK:
                parts = " + ".join(f"{s.name} {s.share:g}" for s in sharing)
                self.reader.fail(
                    node,
                    f"{key}.services",
                    f"the {SHARE_FLAG} shares on GPU {gpu} sum to {total:.2f} ({parts}), over 1.0; "
                    f"fix: lower the shares so they add up to 1.0 at most, or pin a service to another GPU",
                )


__all__ = ["DeploymentsReader"]
