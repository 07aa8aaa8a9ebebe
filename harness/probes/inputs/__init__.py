"""What the probes send that the harness makes itself, with known content: drawn images and clips (``media``, served
from a ``MediaServer`` on loopback, or on the address a remote live endpoint reaches this machine at) and spoken
sentences with the word error rate of a transcript (``speech``)."""

from __future__ import annotations

from harness.probes.inputs.media import IMAGES, MEDIA, VIDEO, Media, MediaServer, media_host_for
from harness.probes.inputs.speech import Speech, normalize, synthesize, word_errors

__all__ = [
    "IMAGES",
    "MEDIA",
    "VIDEO",
    "Media",
    "MediaServer",
    "Speech",
    "media_host_for",
    "normalize",
    "synthesize",
    "word_errors",
]
