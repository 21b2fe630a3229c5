"""SNOMED CT codes of the label table's structures (`resources/snomed.tsv`), for export
sidecars and DICOM-SEG. The codes come from the DICOM code dictionary (PS3.16) as pydicom ships
it; where it has no code for a structure, a broader one is used and the row says so."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from headtwin_app.core.package_data import RESOURCES_DIR

CODES_FILE = RESOURCES_DIR / "snomed.tsv"
REGION_KEY = "100+"  # every atlas region (ids 100 and up) shares one row


@dataclass(frozen=True)
class Code:
    """A coded concept: value, scheme ("SCT"), meaning, and how well it matches."""

    code: str
    scheme: str
    meaning: str
    match: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@lru_cache(maxsize=1)
def _codes() -> dict[str, Code]:
    from headtwin_app.core.labels import tsv_rows

    return {row["id"]: Code(row["code"], row["scheme"], row["meaning"], row["match"])
            for row in tsv_rows(CODES_FILE.read_text(encoding="utf-8"))}


def snomed_code(label_id: int) -> Code | None:
    """The code of a label id (atlas regions: the brain), or None for an id without one."""
    key = REGION_KEY if label_id >= 100 else str(int(label_id))
    return _codes().get(key)
