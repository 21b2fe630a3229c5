"""The head-twin label table (id, name, group, layer, colour, opacity) and ITK-SNAP label files.

The table lives in `resources/label_table.tsv`. Ids 1-12 are the craniofacial/CNS structures of
the head-twin paper (Table 4); 21-23 brain tissue; 31-32 hemispheres; 100+ atlas regions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from headtwin_app.core.atomic import atomic_write_text
from headtwin_app.core.package_data import RESOURCES_DIR

RESOURCES = RESOURCES_DIR
DEFAULT_TABLE = RESOURCES / "label_table.tsv"

GROUPS = ("craniofacial", "CNS", "brain")
LAYERS = ("twin", "tissue", "hemispheres", "regions")
TWIN_IDS = tuple(range(1, 13))  # the 12 craniofacial + CNS structures


@dataclass(frozen=True)
class Label:
    """One structure: its id in a label map, a plain name, its group and display defaults."""

    id: int
    name: str
    group: str
    layer: str
    rgb: tuple[int, int, int]
    opacity: float = 1.0
    visible: bool = True

    @property
    def title(self) -> str:
        """Human-readable name ("medial pterygoid")."""
        return self.name.removeprefix("region_").replace("_", " ")


class LabelTable:
    """An ordered set of labels, looked up by id or name."""

    def __init__(self, labels: list[Label]):
        ids = [lab.id for lab in labels]
        if len(set(ids)) != len(ids):
            raise ValueError("label table has duplicate ids")
        if any(i <= 0 for i in ids):
            raise ValueError("label ids must be positive (0 is background)")
        self.labels = list(labels)
        self._by_id = {lab.id: lab for lab in labels}
        self._by_name = {lab.name: lab for lab in labels}

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.labels)

    def __contains__(self, label_id: object) -> bool:
        return label_id in self._by_id

    def __getitem__(self, label_id: int) -> Label:
        try:
            return self._by_id[int(label_id)]
        except KeyError:
            raise KeyError(f"label id {label_id} is not in the label table") from None

    def by_name(self, name: str) -> Label:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"label '{name}' is not in the label table") from None

    def layer(self, layer: str) -> LabelTable:
        """The sub-table of one layer ("twin", "tissue", "hemispheres", "regions")."""
        return LabelTable([lab for lab in self.labels if lab.layer == layer])

    def ids(self) -> list[int]:
        return [lab.id for lab in self.labels]

    def name_of(self, label_id: int) -> str:
        lab = self._by_id.get(int(label_id))
        return lab.name if lab else f"label_{label_id}"


def load_label_table(path: str | os.PathLike[str] = DEFAULT_TABLE) -> LabelTable:
    """Read the TSV table (or an ITK-SNAP label description file, detected by its content)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    if not first.startswith("id\t"):
        return read_itksnap(p)
    labels = [Label(int(row["id"]), row["name"], row["group"], row["layer"],
                    (int(row["r"]), int(row["g"]), int(row["b"])), float(row["opacity"]))
              for row in tsv_rows(text)]
    return LabelTable(labels)


def tsv_rows(text: str) -> list[dict[str, str]]:
    """The rows of a tab-separated table as dicts by its header line ('#' lines skipped)."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if header is None:
            header = cols
            continue
        rows.append(dict(zip(header, cols, strict=False)))
    return rows


def default_label_table() -> LabelTable:
    """The table shipped in resources/ (cached after the first read)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_label_table(DEFAULT_TABLE)
    return _DEFAULT


_DEFAULT: LabelTable | None = None


def write_label_table(table: LabelTable, path: str | os.PathLike[str]) -> None:
    """Write the TSV form of the table."""
    lines = ["id\tname\tgroup\tlayer\tr\tg\tb\topacity"]
    for lab in table:
        lines.append("\t".join(map(str, (lab.id, lab.name, lab.group, lab.layer, *lab.rgb,
                                          lab.opacity))))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_slicer_colour_table(table: LabelTable, path: str | os.PathLike[str]) -> None:
    """A 3D Slicer colour table (.ctbl: `id name r g b a`), so a label map loaded into Slicer
    with it keeps our names and colours."""
    lines = [f"# Color table file {Path(path).name} (HeadTwin Studio)",
             f"# {len(table) + 1} values", "0 Background 0 0 0 0"]
    for lab in table:
        r, g, b = lab.rgb
        lines.append(f"{lab.id} {lab.name} {r} {g} {b} {round(255 * lab.opacity)}")
    atomic_write_text(path, "\n".join(lines) + "\n")


# ITK-SNAP label description format: IDX -R- -G- -B- -A-- VIS MSH "LABEL"
_SNAP_LINE = re.compile(
    r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+(\d)\s+(\d)\s+"(.*)"\s*$'
)


def write_itksnap(table: LabelTable, path: str | os.PathLike[str]) -> None:
    """Write an ITK-SNAP label description file; group and layer go in the label text as
    "name [group/layer]" so that reading it back restores them."""
    out = [
        "################################################",
        "# ITK-SnAP Label Description File (HeadTwin Studio)",
        "# Columns: IDX -R- -G- -B- -A-- VIS MSH LABEL",
        "################################################",
        '    0     0    0    0        0  0  0    "Clear Label"',
    ]
    for lab in table:
        r, g, b = lab.rgb
        text = f"{lab.name} [{lab.group}/{lab.layer}]"
        out.append(f'{lab.id:5d} {r:5d} {g:4d} {b:4d} {lab.opacity:8.3g} {int(lab.visible):2d}  1'
                   f'    "{text}"')
    atomic_write_text(path, "\n".join(out) + "\n")


def read_itksnap(path: str | os.PathLike[str]) -> LabelTable:
    """Read an ITK-SNAP label description file. Labels without our "[group/layer]" suffix get
    group "craniofacial" and layer "twin"; label 0 ("Clear Label") is skipped."""
    labels = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _SNAP_LINE.match(line)
        if not m:
            raise ValueError(f"{path}:{n}: not an ITK-SNAP label line: {line.strip()[:60]}")
        idx, r, g, b, a, vis, _msh, text = m.groups()
        if int(idx) == 0:
            continue
        group, layer = "craniofacial", "twin"
        tm = re.match(r"^(.*) \[([^/\]]+)/([^\]]+)\]$", text)
        if tm:
            text, group, layer = tm.groups()
        name = text.strip().replace(" ", "_")
        labels.append(Label(int(idx), name, group, layer, (int(r), int(g), int(b)),
                            float(a), bool(int(vis))))
    return LabelTable(labels)


def with_colour(label: Label, rgb: tuple[int, int, int]) -> Label:
    """A copy of `label` with another colour (labels are immutable)."""
    return replace(label, rgb=rgb)


def lut_rgba(table: LabelTable, alpha: float = 0.5, visible: set[int] | None = None):  # type: ignore[no-untyped-def]
    """A (max_id+1)×4 uint8 colour lookup table for overlays: background and hidden labels are
    transparent; each label's alpha is its opacity × `alpha`."""
    import numpy as np

    lut = np.zeros((max(table.ids(), default=0) + 1, 4), dtype=np.uint8)
    for lab in table:
        if visible is not None and lab.id not in visible:
            continue
        lut[lab.id, :3] = lab.rgb
        lut[lab.id, 3] = int(round(255 * alpha * lab.opacity))
    return lut
