"""Stage 1, the matrix: matrix.yaml -> frozen, typed cells (model x flag profile x use case), with the matrix's
expectations (XFAIL codes), gate requirements and external endpoints.

Modules, in the order a file is read:
- ``yaml_nodes``: line-aware YAML reading; every mistake names file:line, the key, the rule, the value and the fix.
- ``endpoints``: the ``endpoints:`` entries for use cases vLLM cannot serve (tts, image_generation), and a model
  entry's ``endpoint:``, a live server this run did not start (any use case; one or several models behind it).
- ``deployments``: the ``deployments:`` section: stacks of services sharing GPUs, and their rules.
- ``load``: the matrix's rules (keys, flags, profiles, use cases, expectations) -> ``Matrix``.
- ``spec``: the typed values later stages read: ``ModelSpec``, ``Cell``, ``Matrix``, ``Deployment``, ``Service``
  (frozen, hashable).
"""

from __future__ import annotations

from harness.matrix.endpoints import LIVE_LABEL, NO_KEY, Endpoint, EndpointError, parse_endpoint, parse_live_endpoint
from harness.matrix.load import demo_matrix_path, load_matrix
from harness.matrix.spec import (
    DEFAULT_PROFILE,
    GATE_METRICS,
    Cell,
    Deployment,
    FrozenMap,
    Matrix,
    MatrixError,
    ModelSpec,
    Service,
    Timeouts,
)

__all__ = [
    "DEFAULT_PROFILE",
    "GATE_METRICS",
    "LIVE_LABEL",
    "NO_KEY",
    "Cell",
    "Deployment",
    "Endpoint",
    "EndpointError",
    "FrozenMap",
    "Matrix",
    "MatrixError",
    "ModelSpec",
    "Service",
    "Timeouts",
    "demo_matrix_path",
    "load_matrix",
    "parse_endpoint",
    "parse_live_endpoint",
]
