"""Neck and oral anatomy on the canonical grid: cervical spine C1–C5 with discs, spinal canal
and cord, upper airway, and the unlabelled soft tissue that surrounds them (neck muscles, tongue,
parotids, fat pads).

Levels in MNI z (mm): foramen magnum −62, C1 ring −72, C2 body −82…−104 (dens up to −64),
C3 −108…−122, C4 −126…−140, C5 −144…−158, with 4–5 mm discs between.
"""

from __future__ import annotations

import numpy as np

from headtwin_app.core.phantom.head import Y_FORAMEN, Z_FORAMEN
from headtwin_app.core.phantom.shapes import (
    CANON_ORIGIN,
    Canvas,
    box_sd,
    capsule_sd,
    ellipsoid_sd,
    polyline_bounds,
    tube_sd,
)
from headtwin_app.core.phantom.subject import Subject
from headtwin_app.core.phantom.tissues import CODE as T

Z_BOTTOM = float(CANON_ORIGIN[2])
# (top, bottom) z of each vertebral body below C1, MNI mm
BODIES = {"C2": (-82.0, -104.0), "C3": (-108.5, -122.0), "C4": (-126.5, -140.0),
          "C5": (-144.5, -158.0), "C6": (-162.5, -176.0), "C7": (-180.5, -194.5)}


def canal_y(a: Subject, z: np.ndarray | float) -> np.ndarray:
    """Canal axis (y, MNI mm) along z: below the foramen magnum with a gentle lordosis."""
    dz = np.clip(Z_FORAMEN - np.asarray(z, dtype=float), 0, None)
    return Y_FORAMEN + a.jitter["canal"][1] * 0.5 + 0.11 * dz - 0.00035 * dz ** 2


def paint_z_tube(cv: Canvas, z0: float, z1: float, cx: float, cy_of_z, rx: float, ry: float,
                 label: int | None, value: int, ring: tuple[float, float] | None = None) -> None:
    """Paint an elliptic cross-section (or ring, inner radii `ring`) slice by slice in z."""
    ymid = float(np.mean(cy_of_z(np.array([z0, z1]))))
    reg = cv.region((cx - rx - 1, ymid - ry - 12, z0), (cx + rx + 1, ymid + ry + 12, z1))
    if reg is None:
        return
    cy = cy_of_z(reg.z).astype(np.float32)
    k = ((reg.x - cx) / rx) ** 2 + ((reg.y - cy) / ry) ** 2
    mask = k < 1.0
    if ring is not None:
        mask &= ((reg.x - cx) / ring[0]) ** 2 + ((reg.y - cy) / ring[1]) ** 2 >= 1.0
    cv.paint(reg, mask, label, value)


def paint_neck_soft(cv: Canvas, a: Subject) -> None:
    """Unlabelled neck muscles, tongue, parotids and fat pads (painted first, under the rest)."""
    mus = T["muscle"]
    n = a.neck

    def cy_par(z):
        return canal_y(a, z) - 25.0

    # paraspinal muscle mass behind the spine, with a fatty midline (nuchal ligament) plane
    paint_z_tube(cv, Z_BOTTOM, -48, 0.0, cy_par, 34 * n, 18 * n, 0, mus)
    paint_z_tube(cv, Z_BOTTOM, -48, 0.0, lambda z: cy_par(z) - 4.0, 1.6, 16 * n, 0, T["fat"])
    for s in (-1, 1):
        scm = np.array([[54.0 * s, -32.0, -62.0], [46.0 * s, -8.0, -120.0],
                        [28.0 * s, 28.0, -205.0]])
        reg = cv.region(*polyline_bounds(scm, 12))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, scm, [8.5 * n, 9.5 * n, 9.0 * n]) < 0, 0, mus)
        pc = np.array([50.0 * s, -24.0, -82.0])
        reg = cv.around(pc, (14, 14, 24))
        if reg is not None:
            cv.paint(reg, ellipsoid_sd(reg, pc, (11, 12, 21)) < 0, 0, T["gland"])
        bc = np.array([44.0 * s, 42.0, -78.0])
        reg = cv.around(bc, (10, 12, 12))
        if reg is not None:
            cv.paint(reg, ellipsoid_sd(reg, bc, (8, 10, 10)) < 0, 0, T["fat"])
        # parapharyngeal fat: medial to the pterygoids, lateral to the airway
        ppc = np.array([22.0 * s, 2.0, -78.0])
        reg = cv.around(ppc, (9, 12, 18))
        if reg is not None:
            cv.paint(reg, ellipsoid_sd(reg, ppc, (7, 10, 16)) < 0, 0, T["fat"])
    # carotid arteries and internal jugular veins: flow voids (dark) in spin-echo PD images
    for s in (-1, 1):
        paint_z_tube(cv, Z_BOTTOM, -48, 19.0 * s, lambda z: canal_y(a, z) + 31.0, 3.2, 3.2, 0,
                     T["flow_void"])
        paint_z_tube(cv, Z_BOTTOM, -52, 28.0 * s, lambda z: canal_y(a, z) + 22.0, 4.8, 4.0, 0,
                     T["flow_void"])
    # prevertebral muscles (longus colli/capitis) in front of the vertebral bodies
    for s in (-1, 1):
        paint_z_tube(cv, Z_BOTTOM, -60, 7.5 * s, lambda z: canal_y(a, z) + 28.0, 6.5, 4.0, 0, mus)
    # tongue and floor of mouth
    tc = np.array([0.0, 42.0, -94.0]) + a.jitter["tongue"]
    reg = cv.around(tc, (30, 38, 26))
    if reg is not None:
        cv.paint(reg, ellipsoid_sd(reg, tc, (25, 34, 20)) < 0, 0, mus)
        cv.paint(reg, ellipsoid_sd(reg, tc + [0, 2, -15], (28, 30, 8)) < 0, 0, mus)


def paint_spine(cv: Canvas, a: Subject, ids: dict[str, int]) -> None:
    """C1–C5 (and the top of C6) with discs, the canal (epidural fat, thecal sac CSF) and the
    spinal cord running up into the medulla."""
    vid, did, cid = ids["cervical_vertebrae"], ids["cervical_discs"], ids["spinal_cord"]
    vm = T["vertebral_marrow"]

    def cy(z):
        return canal_y(a, z)

    # canal contents first; bones around them afterwards
    paint_z_tube(cv, Z_BOTTOM, Z_FORAMEN + 2, 0.0, cy, 12.5, 9.0, 0, T["fat"])
    paint_z_tube(cv, Z_BOTTOM, Z_FORAMEN + 2, 0.0, lambda z: cy(z) + 0.5, 10.5, 7.5, 0, T["csf"])
    paint_z_tube(cv, Z_BOTTOM, Z_FORAMEN + 4, 0.0, lambda z: cy(z) + 0.5, 6.6, 4.6, cid, T["cord"])

    # C1: ring around canal and dens, taller lateral masses, transverse processes
    z1 = -72.0 + a.jitter["canal"][2] * 0.3
    yc1 = float(cy(z1))
    reg = cv.region((-42, yc1 - 30, z1 - 10), (42, yc1 + 30, z1 + 10))
    if reg is not None:
        u, v = reg.x / 25.0, (reg.y - (yc1 + 3.0)) / 24.0
        ring = (u ** 2 + v ** 2 < 1.0) & ((reg.x / 16.0) ** 2 + ((reg.y - yc1 - 1.0) / 18.5) ** 2
                                          >= 1.0)
        arch_h = np.where(np.abs(reg.x) > 10, 8.5, 4.5)
        m1 = ring & (np.abs(reg.z - z1) < arch_h)
        tp = box_sd(reg, (0, yc1 + 6.0, z1), (38, 4.5, 4.0), rounding=3.0) < 0
        m1 |= tp
        core = (np.abs(reg.x) > 11) & (np.abs(reg.z - z1) < arch_h - 1.6) & \
               ((u ** 2 + v ** 2) < 0.8) & ~((reg.x / 17.5) ** 2 +
                                              ((reg.y - yc1 - 1.0) / 20) ** 2 < 1.0)
        cv.paint(reg, m1, vid, np.where(core, vm, T["cortical_bone"]).astype(np.uint8))

    prev_bottom = None
    for name, (top, bottom) in BODIES.items():
        mid = 0.5 * (top + bottom)
        yb = float(cy(mid)) + 8.5 + 1.5 + 8.0
        rx, ry = (9.5, 8.5) if name == "C2" else (8.5, 8.0)
        if prev_bottom is not None:  # the disc above this body
            dreg = cv.region((-rx - 1, yb - ry - 1, top - 0.2), (rx + 1, yb + ry + 1, prev_bottom))
            if dreg is not None:
                k = (dreg.x / rx) ** 2 + ((dreg.y - yb) / ry) ** 2
                nucleus = k < 0.35
                cv.paint(dreg, k < 1.0, did, np.where(nucleus, T["disc_nucleus"],
                                                      T["disc_annulus"]).astype(np.uint8))
        prev_bottom = bottom
        reg = cv.region((-30, yb - 45, bottom - 4), (30, yb + 12, top + 24))
        if reg is None:
            continue
        # elliptic cylinder with rounded rims (2 mm)
        radial = (np.sqrt((reg.x / rx) ** 2 + ((reg.y - yb) / ry) ** 2) - 1.0) * min(rx, ry) + 2.0
        vert = np.abs(reg.z - mid) - (0.5 * (top - bottom) - 2.0)
        sdv = (np.sqrt(np.maximum(radial, 0) ** 2 + np.maximum(vert, 0) ** 2)
               + np.minimum(np.maximum(radial, vert), 0) - 2.0).astype(np.float32)
        # neural arch (pedicles + laminae) around the canal, spinous and transverse processes
        yc = float(cy(mid))
        arch_z = (reg.z > bottom + 2.0) & (reg.z < top - 2.5)
        k_out = (reg.x / 15.5) ** 2 + ((reg.y - yc + 1.0) / 13.0) ** 2
        k_in = (reg.x / 12.6) ** 2 + ((reg.y - yc) / 9.2) ** 2
        arch = arch_z & (k_out < 1.0) & (k_in >= 1.0) & (reg.y < yb - 2)
        sp_len = 27.0 if name == "C2" else 20.0
        sp = capsule_sd(reg, (0, yc - 11.0, mid + 1), (0, yc - 11.0 - sp_len, mid - 5), 3.8)
        tps = [capsule_sd(reg, (s * 9.0, yc + 7.0, mid), (s * 25.0, yc + 6.0, mid), 3.6)
               for s in (-1, 1)]
        sdv = np.minimum(sdv, np.minimum(sp, np.minimum(*tps)))
        solid = (sdv < 0) | arch
        if name == "C2":  # dens rising into the C1 ring
            dens = capsule_sd(reg, (0, yb, top - 2), (0, yb - 1.0, -64.0), 5.2)
            solid |= dens < 0
            sdv = np.minimum(sdv, dens)
        value = np.where((sdv < -1.5) & ~arch, vm, T["cortical_bone"]).astype(np.uint8)
        cv.paint(reg, solid, vid, value)


def paint_airway(cv: Canvas, a: Subject, airway_id: int) -> None:
    """Upper airway: nasopharynx (behind the choanae) → oropharynx → laryngopharynx, kept in
    front of the prevertebral muscles."""
    k = a.airway
    j = a.jitter["airway"]
    zs = np.array([-50.0, -58.0, -68.0, -80.0, -95.0, -110.0, -125.0, -140.0, -160.0, Z_BOTTOM])
    front = canal_y(a, zs) + 8.5 + 1.5 + 16.0 + 3.0 + 2.0
    ry = np.array([9.0, 9.5, 8.0, 6.5, 6.0, 6.5, 6.0, 5.5, 5.5, 5.5]) * k
    rx = np.array([13.0, 13.5, 12.0, 10.5, 10.0, 12.0, 11.0, 8.5, 7.5, 7.5]) * k
    cyv = np.maximum(front + ry, [14.0, 10.0, 2.0, -8, -9, -6, -3, 0, 2, 4])
    cyv[:2] = [12.0, 6.0]
    cyv = cyv + j[1]
    reg = cv.region((-16 * k - 2 + j[0], cyv.min() - 12, Z_BOTTOM), (16 * k + 2 + j[0],
                                                              cyv.max() + 12, -46))
    if reg is None:
        return
    zz = reg.z[0, 0, :]
    order = np.argsort(zs)
    cyz = np.interp(zz, zs[order], cyv[order]).astype(np.float32).reshape(1, 1, -1)
    rxz = np.interp(zz, zs[order], rx[order]).astype(np.float32).reshape(1, 1, -1)
    ryz = np.interp(zz, zs[order], ry[order]).astype(np.float32).reshape(1, 1, -1)
    m = ((reg.x - j[0]) / rxz) ** 2 + ((reg.y - cyz) / ryz) ** 2 < 1.0
    # the nasopharynx roof slopes up and back under the sphenoid
    m &= (reg.z < -48.0 + 0.25 * (reg.y - 6.0))
    cv.paint(reg, m, airway_id, T["air"])
    # mucosa lining: a thin brighter rim (unlabelled)
    rim = ((reg.x - j[0]) / (rxz + 1.5)) ** 2 + ((reg.y - cyz) / (ryz + 1.5)) ** 2 < 1.0
    rim &= ~m & (reg.z < -46.0)
    cv.paint(reg, rim & (cv.label[reg.slices] == 0), None, T["mucosa"])
