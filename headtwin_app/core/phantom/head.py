"""Craniofacial anatomy on the canonical grid: skull, face bones and cavities, masticatory
muscles, mandible with TMJ discs, eyes. Positions are MNI millimetres chosen against the
ICBM152 brain (e.g. the eyes sit under the orbital frontal cortex, the condyles under the
middle cranial fossa), then jittered per subject.
"""

from __future__ import annotations

import numpy as np
from matplotlib.path import Path as PolyPath

from headtwin_app.core.phantom.shapes import (
    Canvas,
    Region,
    box_sd,
    capsule_sd,
    ellipsoid_sd,
    polyline_bounds,
    rotation,
    tube_sd,
)
from headtwin_app.core.phantom.subject import Subject
from headtwin_app.core.phantom.tissues import CODE as T

Z_FORAMEN = -62.0  # foramen magnum plane: the template's cerebellum ends, the medulla leaves
Y_FORAMEN = -46.0


def skull_thickness(a: Subject, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Calvarial thickness (mm); the temporal squama is thin (~3.5 mm)."""
    w = (np.clip((np.abs(x) - 42.0) / 10.0, 0, 1) * np.clip((25.0 - z) / 15.0, 0, 1)
         * np.clip((z + 62.0) / 8.0, 0, 1))
    return (a.skull - (a.skull - 3.5) * w).astype(np.float32)


def paint_calvarium(cv: Canvas, a: Subject, sd: np.ndarray, skull_id: int) -> None:
    """Skull vault and base as a shell around the intracranial envelope, with inner and outer
    tables (cortical, dark) and diploe (fatty marrow) between; open at the foramen magnum."""
    reg = cv.region((-100, -130, Z_FORAMEN - 10), (100, 125, 100))
    assert reg is not None
    d = sd[reg.slices] - a.csf_gap
    t = skull_thickness(a, reg.x, reg.z)
    shell = (d > 0) & (d <= t)
    fm = ((reg.x / 15.0) ** 2 + ((reg.y - Y_FORAMEN) / 18.0) ** 2 < 1.0) & (reg.z < Z_FORAMEN + 14)
    shell &= ~fm
    table = np.minimum(d, t - d)
    value = np.where(table < np.maximum(1.9, t / 3.2), T["cortical_bone"], T["marrow"])
    cv.paint(reg, shell, skull_id, value.astype(np.uint8))


def _bone(cv: Canvas, reg: Region | None, sd: np.ndarray, label: int,
          cortex: float = 1.8) -> None:
    """Paint a bone from its signed distance: a dark cortex `cortex` mm thick around marrow."""
    if reg is None:
        return
    tissue = np.where(sd > -cortex, T["cortical_bone"], T["marrow"]).astype(np.uint8)
    cv.paint(reg, sd < 0, label, tissue)


def swept_rect_sd(reg: Region, pts: np.ndarray, half_w: float, half_h: float,
                  rounding: float) -> np.ndarray:
    """Signed distance to a rounded rectangle (width across, height in z) swept along a
    polyline whose points give the section centre; used for the mandibular body."""
    sd = np.full(reg.shape, np.inf, dtype=np.float32)
    r = rounding
    for p, q in zip(pts[:-1], pts[1:], strict=True):
        ab = q[:2] - p[:2]
        dx, dy = reg.x - p[0], reg.y - p[1]
        t = np.clip((dx * ab[0] + dy * ab[1]) / float(ab @ ab), 0.0, 1.0)
        dxy = np.sqrt((dx - t * ab[0]) ** 2 + (dy - t * ab[1]) ** 2)
        zc = p[2] + t * (q[2] - p[2])
        qx = dxy - (half_w - r)
        qz = np.abs(reg.z - zc) - (half_h - r)
        seg = (np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qz, 0) ** 2)
               + np.minimum(np.maximum(qx, qz), 0) - r)
        sd = np.minimum(sd, seg)
    return sd


def eye_centre(a: Subject, side: int) -> np.ndarray:
    return np.array([32.0 * side, 57.0, -39.0]) + a.jitter["eye"] * [side, 1, 1]


def paint_face_bones(cv: Canvas, a: Subject, skull_id: int) -> None:
    """Maxilla (with sinuses carved later), zygomatic bones and arches, orbital walls,
    pterygoid plates, mastoids, nasal bones: all part of the skull label."""
    jm = a.jitter["maxilla"]
    c = np.array([0.0, 46.0, -56.0]) + jm
    reg = cv.around(c, (38, 34, 26))
    if reg is not None:
        _bone(cv, reg, ellipsoid_sd(reg, c, (36, 32, 24)), skull_id, 2.2)
    for s in (-1, 1):
        e = eye_centre(a, s)
        # orbital walls: an open cone-like shell around the eye, open to the front
        oc = e + [0, -10, 0]
        reg = cv.around(oc, (22, 28, 21))
        if reg is not None:
            outer = ellipsoid_sd(reg, oc, (19, 27, 19))
            inner = ellipsoid_sd(reg, oc, (16.5, 24.5, 16.5))
            wall = (outer < 0) & (inner >= 0) & (reg.y < e[1] + 2)
            cv.paint(reg, wall, skull_id, T["cortical_bone"])
        ja = a.jitter["arch"] * [s, 1, 1]
        arch = np.array([[45, 58, -50], [52, 50, -52], [63, 35, -49], [68, 15, -48],
                         [66, 0, -47], [59, -10, -46]], dtype=float) * [s, 1, 1] + ja
        reg = cv.region(*polyline_bounds(arch, 7))
        if reg is not None:
            _bone(cv, reg, tube_sd(reg, arch, [6, 6, 4.2, 4.0, 4.0, 4.5]), skull_id, 1.5)
        rim = np.array([[44, 58, -52], [46, 55, -38], [43, 52, -24]], dtype=float) * [s, 1, 1]
        reg = cv.region(*polyline_bounds(rim, 6))
        if reg is not None:
            _bone(cv, reg, tube_sd(reg, rim + ja, 4.0), skull_id, 1.5)
        # pterygoid plates (origins of the pterygoid muscles)
        jp = a.jitter["pterygoid"] * [s, 1, 1]
        for px, half in ((27.0, 1.6), (15.0, 1.3)):
            pc = np.array([px * s, 14.0, -66.0]) + jp
            reg = cv.around(pc, (4, 10, 16))
            if reg is not None:
                sdp = box_sd(reg, pc, (half, 8, 13), rotation(0, s * -8, 0), rounding=1.0)
                cv.paint(reg, sdp < 0, skull_id, T["cortical_bone"])
        mc = np.array([54.0 * s, -34.0, -54.0]) + a.jitter["mastoid"] * [s, 1, 1]
        reg = cv.around(mc, (12, 14, 18))
        if reg is not None:
            sdm = ellipsoid_sd(reg, mc, (9, 11, 15), rotation(10, 0, 0))
            cv.paint(reg, sdm < 0, skull_id, np.where(sdm > -1.5, T["cortical_bone"],
                                                               T["mastoid"]))
    # nasal bones: a thin tent over the upper nose
    nb = np.array([0.0, 84.0, -36.0]) + jm
    reg = cv.around(nb, (10, 10, 12))
    if reg is not None:
        outer = ellipsoid_sd(reg, nb, (9, 8, 11), rotation(-25, 0, 0))
        inner = ellipsoid_sd(reg, nb, (7, 6, 9.5), rotation(-25, 0, 0))
        cv.paint(reg, (outer < 0) & (inner >= 0) & (reg.y > nb[1] - 2), skull_id,
                 T["cortical_bone"])


def paint_cavities(cv: Canvas, a: Subject) -> None:
    """Orbital fat, nasal cavity with septum and turbinates, maxillary and sphenoid sinuses,
    nostrils and external ear canals (all unlabelled)."""
    jm = a.jitter["maxilla"]
    for s in (-1, 1):
        e = eye_centre(a, s)
        oc = e + [0, -10, 0]
        reg = cv.around(oc, (18, 26, 18))
        if reg is not None:
            inner = ellipsoid_sd(reg, oc, (16.0, 23.5, 14.5))
            cv.paint(reg, (inner < 0) & (reg.y < e[1] + 4), 0, T["fat"])
        # maxillary sinuses: below the orbital floor, above the alveolar process
        sc = np.array([22.0 * s, 46.0, -65.0]) + jm * [s, 1, 1]
        reg = cv.around(sc, (14, 18, 15))
        if reg is not None:
            sds = ellipsoid_sd(reg, sc, (12, 16, 12.5), rotation(0, 0, s * 12))
            cv.paint(reg, sds < 0, 0, np.where(sds > -1.2, T["mucosa"], T["air"]))
        # nasal cavity halves, separated by the septum
        nc = np.array([7.5 * s, 52.0, -52.0]) + jm
        reg = cv.around(nc, (8, 42, 22))
        if reg is not None:
            sdn = ellipsoid_sd(reg, nc, (6.5, 40, 19))
            cv.paint(reg, (sdn < 0) & (np.abs(reg.x) > 1.2), 0, T["air"])
            for tz, tr, ty0, ty1 in ((-63.0, 3.8, 20, 74), (-51.0, 3.2, 26, 66),
                                     (-40.0, 2.4, 32, 58)):
                sdt = capsule_sd(reg, (12.5 * s + jm[0], ty0 + jm[1], tz + jm[2]),
                                 (11.5 * s + jm[0], ty1 + jm[1], tz + 2 + jm[2]), tr)
                cv.paint(reg, (sdt < 0) & (sdn < 0), 0, T["mucosa"])
        nn = np.array([6.0 * s, 100.0, -71.0]) + jm
        reg = cv.around(nn, (5, 8, 5))
        if reg is not None:
            cv.paint(reg, ellipsoid_sd(reg, nn, (3.2, 6, 2.8), rotation(-20, 0, 0)) < 0, 0,
                     T["air"])
        ear = np.array([[73.0, -22.0, -46.0], [58.0, -21.0, -47.0]]) * [s, 1, 1]
        reg = cv.region(*polyline_bounds(ear, 5))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, ear, 3.4) < 0, 0, T["air"])
    spc = np.array([0.0, 18.0, -36.0]) + jm
    reg = cv.around(spc, (14, 12, 11))
    if reg is not None:
        sdsp = ellipsoid_sd(reg, spc, (12, 10, 9))
        cv.paint(reg, sdsp < 0, 0, np.where(sdsp > -1.0, T["mucosa"], T["air"]))


def tmj_centre(a: Subject, side: int, sd: np.ndarray, cv: Canvas) -> np.ndarray:
    """Condyle centre: under the outer surface of the skull base at (±50, −16)."""
    base = np.array([50.0 * side, -16.0, 0.0]) + a.jitter["tmj"] * [side, 1, 0]
    ix, iy = (int(round(base[i] - cv.origin[i])) for i in (0, 1))
    col = sd[ix, iy, :] - a.csf_gap
    zs = np.arange(cv.shape[2]) + cv.origin[2]
    t = skull_thickness(a, np.array([base[0]]), zs)
    inside = np.nonzero((col <= t) & (zs > -80))[0]
    z_bottom = float(zs[inside.min()]) if inside.size else -50.0
    return np.array([base[0], base[1], z_bottom - 2.6 - 5.5 + a.jitter["tmj"][2] * 0.3])


def paint_muscles(cv: Canvas, a: Subject, sd: np.ndarray, ids: dict[str, int],
                  condyles: dict[int, np.ndarray]) -> None:
    """Temporalis, masseter, lateral and medial pterygoids: all the same muscle tissue."""
    mus = T["muscle"]
    for s in (-1, 1):
        cc = condyles[s]
        # temporalis: a fan on the temporal fossa (outside the skull), thick below, thin above
        k = a.muscle["temporalis"]
        reg = cv.region((min(s * 35, s * 95), -80, -50), (max(s * 35, s * 95), 50, 65))
        if reg is not None:
            d = sd[reg.slices] - a.csf_gap - skull_thickness(a, reg.x, reg.z)
            thick = k * (2.2 + 9.0 * np.clip((18.0 - reg.z) / 55.0, 0, 1))
            fan = ((reg.y + 12.0) / 50.0) ** 2 + ((reg.z - 4.0) / 46.0) ** 2 < 1.0
            m = (d > 0) & (d <= thick) & fan & (reg.z > -44) & (s * reg.x > 38)
            cv.paint(reg, m, ids["temporalis"], mus)
        low = np.array([[57.0, 2.0, -36.0], [52.0, 8.0, -50.0], [48.0, 12.0, -56.0]]) * [s, 1, 1]
        low[:, 2] += cc[2] + 58.0
        reg = cv.region(*polyline_bounds(low, 11))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, low, [9.0 * k, 7.5 * k, 5.0]) < 0, ids["temporalis"], mus)
        # masseter: zygomatic arch down to the lateral surface of ramus and angle
        k = a.muscle["masseter"] ** (1 / 3)
        mc = np.array([59.0 * s, cc[1] + 19.0, cc[2] - 24.0])
        reg = cv.around(mc, (14, 24, 38))
        if reg is not None:
            sdm = ellipsoid_sd(reg, mc, (9.5 * k, 18 * k, 34 * k), rotation(-14, 0, s * 6))
            cv.paint(reg, sdm < 0, ids["masseter"], mus)
        # lateral pterygoid: pterygoid plate → condylar neck, nearly horizontal
        jp = a.jitter["pterygoid"] * [s, 1, 1]
        k = a.muscle["lateral_pterygoid"] ** 0.5
        p0 = np.array([28.5 * s, 16.0, -61.0]) + jp
        p1 = cc + [-5.0 * s, 2.0, -2.0]
        reg = cv.region(*polyline_bounds(np.array([p0, p1]), 10))
        if reg is not None:
            cv.paint(reg, capsule_sd(reg, p0, p1, 8.6 * k) < 0, ids["lateral_pterygoid"], mus)
        # medial pterygoid: pterygoid fossa → medial surface of the mandibular angle
        k = a.muscle["medial_pterygoid"] ** 0.5
        p0 = np.array([22.0 * s, 14.0, -70.0]) + jp
        p1 = np.array([43.5 * s, cc[1] + 6.0, cc[2] - 46.0])
        reg = cv.region(*polyline_bounds(np.array([p0, p1]), 10))
        if reg is not None:
            cv.paint(reg, capsule_sd(reg, p0, p1, 9.0 * k) < 0, ids["medial_pterygoid"], mus)


def paint_mandible(cv: Canvas, a: Subject, ids: dict[str, int],
                   condyles: dict[int, np.ndarray]) -> None:
    """Mandible: condyles, rami with coronoid processes, a U-shaped body; TMJ discs capping the
    condyles under the glenoid fossae; lower teeth along the alveolar ridge (unlabelled)."""
    j = a.jaw
    jg = a.jitter["gonion"]
    jm = a.jitter["menton"]
    menton = np.array([0.0, 78.0, -150.0]) + jm
    teeth_pts = []
    for s in (-1, 1):
        cc = condyles[s]
        # ramus: a plate in the (y, z) plane, outline relative to the condyle centre
        outline = np.array([(-3, -6), (-5, -28), (-3, -48), (1, -55), (12, -58), (26, -42),
                            (29, -20), (31, 3), (24, -6), (15, -11), (6, -6), (4, -2)], float)
        outline *= j
        outline += [cc[1], cc[2]]
        outline[2:5] += [jg[1], jg[2]]
        lo = [cc[0] - 8 if s > 0 else cc[0] - 6, outline[:, 0].min() - 1, outline[:, 1].min() - 1]
        hi = [cc[0] + 6 if s > 0 else cc[0] + 8, outline[:, 0].max() + 1, outline[:, 1].max() + 1]
        reg = cv.region(lo, hi)
        if reg is not None:
            yy, zz = np.broadcast_arrays(reg.y[0, :, :], reg.z[0, :, :])
            inside = PolyPath(outline).contains_points(
                np.column_stack([yy.ravel(), zz.ravel()])).reshape(yy.shape)
            xc = cc[0] - s * 0.06 * (cc[2] - reg.z)  # the rami converge slightly upwards
            plate = inside[None, :, :] & (np.abs(reg.x - xc) < 3.3 * j)
            edge = plate & ~(inside[None] & (np.abs(reg.x - xc) < 1.6 * j))
            # the thin ramus: marrow mixed with signal-free bone (60 % of the marrow signal)
            cv.paint(reg, plate, ids["mandible"], np.where(edge, T["cortical_bone"], T["marrow"]),
                     np.where(edge, 1.0, 0.6).astype(np.float32))
        reg = cv.around(cc, 13)
        if reg is not None:
            rot = rotation(0, 0, s * -15)
            disc_out = ellipsoid_sd(reg, cc + [0, 0, 1.0], (10.5, 6.8, 7.3), rot)
            condyle = ellipsoid_sd(reg, cc, (9.5 * j, 5.0 * j, 6.0 * j), rot)
            disc = (disc_out < 0) & (condyle >= 0) & (reg.z > cc[2] + 3.0)
            cv.paint(reg, disc, ids["tmj_articular_discs"], T["tmj_disc"])
            # joint space above the disc: synovium, not bone (the glenoid fossa)
            _bone(cv, reg, condyle, ids["mandible"], 1.2)
            neck = capsule_sd(reg, cc, cc + [0, 1.5, -14], 4.0)
            _bone(cv, reg, neck, ids["mandible"], 1.2)
        # body: half of the U from the angle to the symphysis
        gon = np.array([46.5 * s, cc[1] + 5 * j, cc[2] - 49 * j]) + jg * [s, 1, 1]
        ts = np.linspace(0.0, 1.0, 13)
        xs = gon[0] * np.sqrt(1.0 - ts)
        ys = gon[1] + (menton[1] - gon[1]) * ts
        zs = gon[2] + (menton[2] + 16 - gon[2]) * ts
        pts = np.column_stack([xs, ys, zs])
        reg = cv.region(*polyline_bounds(pts, 18))
        if reg is not None:
            sdb = swept_rect_sd(reg, pts, 5.6 * j, 14.5 * j, 3.5)
            _bone(cv, reg, sdb, ids["mandible"], 2.4)
            teeth_pts.append(pts[4:] + [0, 0, 15.5 * j])
    # lower teeth: along the top of the body, anterior to the ramus
    for pts in teeth_pts:
        reg = cv.region(*polyline_bounds(pts, 6))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, pts, 3.6) < 0, 0, T["teeth"])
    # upper teeth under the maxilla
    jm2 = a.jitter["maxilla"]
    for s in (-1, 1):
        ts = np.linspace(0.0, 1.0, 9)
        up = np.column_stack([s * 30 * np.sqrt(1 - ts) * j, 22 + 56 * ts,
                              np.full(9, -80.0)]) + jm2
        reg = cv.region(*polyline_bounds(up, 6))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, up, 3.8) < 0, 0, T["teeth"])


def paint_eyes(cv: Canvas, a: Subject, eye_id: int) -> None:
    """Eyeballs (sclera, vitreous, lens) with optic nerves and the four recti (unlabelled)."""
    for s in (-1, 1):
        e = eye_centre(a, s)
        r = a.eye_radius / float(np.mean(a.scale))  # eyes hardly vary with head size
        apex = np.array([20.0 * s, 18.0, -36.0]) + a.jitter["eye"] * [s, 1, 1] * 0.5
        for tip in ([s * 10, -5, 0], [-s * 10, -5, 0], [0, -5, 10], [0, -5, -10]):
            pts = np.array([apex, e + np.asarray(tip, float) * 1.05])
            reg = cv.region(*polyline_bounds(pts, 5))
            if reg is not None:
                cv.paint(reg, capsule_sd(reg, pts[0], pts[1], 2.3) < 0, 0, T["muscle"])
        nerve = np.array([e + [-s * 2, -r + 2, 0], apex + [0, -2, 2], [10.0 * s, 4, -24]])
        reg = cv.region(*polyline_bounds(nerve, 4))
        if reg is not None:
            cv.paint(reg, tube_sd(reg, nerve, 2.3) < 0, 0, T["nerve"])
        reg = cv.around(e, r + 2)
        if reg is not None:
            sde = ellipsoid_sd(reg, e, (r, r * 1.02, r * 0.98))
            lens = ellipsoid_sd(reg, e + [0, r - 3.2, 0], (4.6, 2.0, 4.6))
            value = np.where(sde > -0.9, T["sclera"], T["vitreous"])
            value = np.where(lens < 0, T["lens"], value).astype(np.uint8)
            cv.paint(reg, (sde < 0) | (lens < 0), eye_id, value)
