"""Edit effort per retrain round: how much annotators changed the model's proposals (voxels and
minutes per case) for proposals of each model round — the data engine's learning curve."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from headtwin_app.core.project import Project


@dataclass(frozen=True)
class EffortRow:
    """One model round: reviewed cases, median voxels changed and minutes spent per case."""

    round: int
    cases: int
    voxels_per_case: float
    minutes_per_case: float


def edit_effort(project: Project) -> list[EffortRow]:
    """Rows per model round over the cases whose proposal was reviewed and saved by a person
    (auto-labelled cases nobody edited do not count)."""
    by_round: dict[int, list[tuple[int, float]]] = {}
    for name in project.case_names():
        rec = project.record(name)
        if rec.proposal_round < 0 or not rec.changes or rec.auto_labelled and not rec.edit_count:
            continue
        voxels = sum(c.get("added", 0) + c.get("removed", 0) for c in rec.changes.values())
        by_round.setdefault(rec.proposal_round, []).append((voxels, rec.seconds_spent / 60.0))
    return [EffortRow(r, len(v), float(median(x for x, _ in v)), float(median(m for _, m in v)))
            for r, v in sorted(by_round.items())]


def write_effort_plot(rows: list[EffortRow], path: str | os.PathLike[str]) -> Path:
    """Voxels changed and minutes per case against the model round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    rounds = [r.round for r in rows]
    ax.plot(rounds, [r.voxels_per_case for r in rows], "o-", color="tab:red")
    ax.set_xlabel("model round (0 = shipped model)")
    ax.set_ylabel("voxels changed per case", color="tab:red")
    twin = ax.twinx()
    twin.plot(rounds, [r.minutes_per_case for r in rows], "s--", color="tab:blue")
    twin.set_ylabel("minutes per case", color="tab:blue")
    if rounds:
        ax.set_xticks(rounds)
    ax.set_title("Edit effort per retrain round (median over reviewed cases)", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
