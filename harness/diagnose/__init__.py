"""Diagnosis: from an engine log (or an HTTP error body) and an exit code to a root-cause code and its evidence.

``diagnose(text, exit_code, sites=...)`` reads the log's structure (harness/diagnose/structure.py), the hand-written
signatures (harness/diagnose/signatures.py) and, when given the installed vLLM's ``SiteIndex``, the messages of its
own source (harness/diagnose/sites.py); harness/diagnose/core.py decides.
"""

from __future__ import annotations

from harness.diagnose.core import EVIDENCE_MAX, Cause, Diagnosis, diagnose
from harness.diagnose.signatures import SIGNATURES, WRAPPERS, Signature
from harness.diagnose.sites import Site, SiteIndex, load_sites, sites_for_python

__all__ = [
    "EVIDENCE_MAX",
    "SIGNATURES",
    "WRAPPERS",
    "Cause",
    "Diagnosis",
    "Signature",
    "Site",
    "SiteIndex",
    "diagnose",
    "load_sites",
    "sites_for_python",
]
