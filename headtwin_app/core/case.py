"""A case: the image being worked on plus what the pipeline has made of it so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from headtwin_app.core.volume import Volume


@dataclass
class Case:
    """The open case. `labels` is the craniofacial/CNS (or fused twin) label map on the image grid;
    `brain` holds optional brain layers by name ("tissue", "regions", "hemispheres")."""

    image: Volume
    name: str = "case"
    labels: Volume | None = None
    brain: dict[str, Volume] = field(default_factory=dict)
    source: Path | None = None
