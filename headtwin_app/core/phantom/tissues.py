"""Tissue classes of the phantom and their MR parameters at 3 T (PD, T1, T2, T2*).

The phantom paints tissue codes, not intensities; a pulse sequence (`sequences.py`) turns the
parameters into signal, so one labelled head can be imaged in any contrast. Values are rounded
literature figures, not fitted: sources are named per tissue and in docs/phantom-contrast.md.
PD is relative water (proton) density, CSF = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STANISZ = "Stanisz et al., MRM 2005;54:507 (3 T)"
GOLD = "Gold et al., AJR 2004;183:343 (3 T musculoskeletal)"
ROONEY = "Rooney et al., MRM 2007;57:308 (3 T CSF T1)"
ESTIMATE = "estimate (no 3 T measurement at hand; chosen for the published appearance)"


@dataclass(frozen=True)
class Tissue:
    """One tissue class: relative proton density and relaxation times in ms."""

    name: str
    pd: float
    t1: float
    t2: float
    t2s: float
    source: str
    flow: bool = False  # fast-flowing blood: a flow void in spin-echo sequences


_TABLE = (
    Tissue("air", 0.0, 1.0, 1.0, 1.0, "no protons"),
    Tissue("cortical_bone", 0.15, 220.0, 0.5, 0.4, "T2* ~0.4 ms (ultrashort-TE studies): "
           "invisible at clinical echo times"),
    Tissue("teeth", 0.1, 500.0, 0.3, 0.2, "enamel and dentine: invisible at clinical echo times"),
    Tissue("marrow", 0.9, 370.0, 50.0, 35.0, GOLD + ", fatty marrow"),
    Tissue("vertebral_marrow", 0.85, 650.0, 50.0, 30.0, ESTIMATE + "; mixed red/yellow marrow"),
    Tissue("fat", 0.9, 380.0, 70.0, 40.0, GOLD + ", subcutaneous fat"),
    Tissue("skin", 0.7, 1000.0, 40.0, 25.0, ESTIMATE + "; dermis"),
    Tissue("soft", 0.75, 900.0, 50.0, 30.0, ESTIMATE + "; fascia, fat and muscle mixed"),
    Tissue("gland", 0.85, 700.0, 60.0, 35.0, ESTIMATE + "; fatty parotid gland"),
    Tissue("muscle", 0.7, 1410.0, 50.0, 28.0, STANISZ + ", skeletal muscle"),
    Tissue("csf", 1.0, 4200.0, 2000.0, 1500.0, ROONEY + "; T2 " + ESTIMATE),
    Tissue("grey_matter", 0.8, 1820.0, 99.0, 60.0, STANISZ),
    Tissue("white_matter", 0.69, 1080.0, 69.0, 50.0, STANISZ),
    Tissue("cord", 0.72, 990.0, 78.0, 50.0, STANISZ + ", spinal cord"),
    Tissue("nerve", 0.72, 1080.0, 78.0, 50.0, STANISZ + ", optic nerve"),
    Tissue("vitreous", 0.99, 4000.0, 1500.0, 1000.0, ESTIMATE + "; 99 % water, CSF-like"),
    Tissue("lens", 0.6, 1100.0, 20.0, 15.0, ESTIMATE + "; protein-rich, short T2"),
    Tissue("sclera", 0.5, 1000.0, 10.0, 8.0, ESTIMATE + "; dense collagen"),
    Tissue("mucosa", 0.85, 1200.0, 100.0, 60.0, ESTIMATE + "; sinonasal mucosa, bright on T2"),
    Tissue("tmj_disc", 0.6, 800.0, 12.0, 8.0, ESTIMATE + "; fibrocartilage, dark on PD and T2"),
    Tissue("disc_nucleus", 0.9, 1300.0, 110.0, 60.0, ESTIMATE + "; healthy nucleus pulposus"),
    Tissue("disc_annulus", 0.7, 1000.0, 40.0, 25.0, ESTIMATE + "; annulus fibrosus"),
    Tissue("ligament", 0.4, 1000.0, 8.0, 5.0, ESTIMATE + "; dense collagen"),
    Tissue("flow_void", 0.85, 1930.0, 275.0, 50.0, STANISZ + ", blood", flow=True),
    Tissue("mastoid", 0.2, 1200.0, 40.0, 10.0, ESTIMATE + "; air cells in bone"),
)

TISSUES: tuple[Tissue, ...] = _TABLE
# Tissue code of each class on the canvas and in tissue_classes.nii.gz; 0 = not painted yet.
CODE: dict[str, int] = {t.name: i + 1 for i, t in enumerate(_TABLE)}
BRAIN_CODES = (CODE["csf"], CODE["grey_matter"], CODE["white_matter"])


def parameter_table() -> dict[str, np.ndarray]:
    """Per-code arrays (index 0 = unpainted, zeros) of pd, t1, t2, t2s and flow."""
    n = len(_TABLE) + 1
    out = {k: np.zeros(n, dtype=np.float64) for k in ("pd", "t1", "t2", "t2s", "flow")}
    for k in ("t1", "t2", "t2s"):
        out[k][0] = 1.0
    for t in _TABLE:
        c = CODE[t.name]
        out["pd"][c], out["t1"][c], out["t2"][c], out["t2s"][c] = t.pd, t.t1, t.t2, t.t2s
        out["flow"][c] = float(t.flow)
    return out


def tissue_names() -> dict[int, str]:
    """Code → tissue name (for the JSON beside tissue_classes.nii.gz)."""
    return {CODE[t.name]: t.name for t in _TABLE}
