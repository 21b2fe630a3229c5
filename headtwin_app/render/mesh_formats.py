"""Mesh files in their formats' own conventions, written from numpy arrays (no VTK needed).

- STL (binary), PLY (binary), OBJ (+ .mtl), 3MF: millimetres in the chosen anatomical space,
  LPS (as 3D Slicer and ITK read untagged files) or RAS, with `SPACE=…` and `UNITS=mm` in the
  header or a comment — 3D Slicer reads that tag.
- glTF 2.0 (`.gltf` with the buffer inside, or binary `.glb`): as the format defines it —
  metres, +Y up (superior), +Z forward (anterior), +X left, right-handed; one node, mesh and
  material per structure, named after it; `alphaMode: BLEND` below opacity 1.
Each writer takes `Part`s and writes one file at a path the caller made atomic.
"""

from __future__ import annotations

import base64
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPACES = ("LPS", "RAS")
GLTF_FRAME = "glTF: metres, +X left, +Y superior, +Z anterior (right-handed)"
# RAS (mm) → glTF (m): x = -R (left), y = S, z = A; a rotation (det +1), so windings hold
_RAS_TO_GLTF = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]) * 1e-3


@dataclass
class Part:
    """One structure's surface: points in world RAS mm, outward triangles, display colour."""

    name: str
    label_id: int
    rgb: tuple[int, int, int]
    opacity: float
    points: np.ndarray  # (N, 3) float, RAS mm
    triangles: np.ndarray  # (M, 3) int
    normals: np.ndarray | None = None  # (N, 3) unit vertex normals, RAS


def in_space(xyz: np.ndarray, space: str) -> np.ndarray:
    """RAS coordinates (points or normals) expressed in `space` ("LPS" flips x and y: a
    rotation by 180° about z, so triangle windings stay outward)."""
    if space not in SPACES:
        raise ValueError(f"unknown space '{space}' (use LPS or RAS)")
    out = np.asarray(xyz, dtype=np.float64)
    return out * np.array([-1.0, -1.0, 1.0]) if space == "LPS" else out


def _face_normals(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    n = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.where(length > 0, length, 1.0)


def tag(space: str, units: str = "mm") -> str:
    return f"SPACE={space} UNITS={units}"


def write_stl(path: Path, parts: list[Part], space: str) -> None:
    """Binary STL of all `parts` (one file); the 80-byte header carries the space tag."""
    pts = [in_space(p.points, space) for p in parts]
    tris = np.concatenate([p[part.triangles] for p, part in zip(pts, parts, strict=True)]) \
        if parts else np.zeros((0, 3, 3))
    normals = np.concatenate([_face_normals(p, part.triangles)
                              for p, part in zip(pts, parts, strict=True)])
    record = np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rows = np.zeros(len(tris), dtype=record)
    rows["n"], rows["v"] = normals, tris
    name = parts[0].name if len(parts) == 1 else "HeadTwin twin"
    header = f"HeadTwin Studio {name}; {tag(space)}".encode("ascii", "replace")[:80]
    with open(path, "wb") as fh:
        fh.write(header.ljust(80, b" "))
        fh.write(struct.pack("<I", len(rows)))
        fh.write(rows.tobytes())


def write_ply(path: Path, parts: list[Part], space: str) -> None:
    """Binary little-endian PLY with per-vertex normals and colours; comments carry the tag
    and the structure names."""
    pts = np.concatenate([in_space(p.points, space) for p in parts]).astype("<f4")
    nrm = np.concatenate([in_space(_vertex_normals(p), space) for p in parts]).astype("<f4")
    rgb = np.concatenate([np.tile(np.asarray(p.rgb, np.uint8), (len(p.points), 1))
                          for p in parts])
    offsets = np.cumsum([0] + [len(p.points) for p in parts])[:-1]
    faces = np.concatenate([p.triangles + o for p, o in zip(parts, offsets, strict=True)])
    names = " ".join(f"{p.label_id}:{p.name}" for p in parts)
    head = ["ply", "format binary_little_endian 1.0", f"comment {tag(space)}",
            f"comment HeadTwin Studio structures {names}", f"element vertex {len(pts)}",
            "property float x", "property float y", "property float z",
            "property float nx", "property float ny", "property float nz",
            "property uchar red", "property uchar green", "property uchar blue",
            f"element face {len(faces)}", "property list uchar int vertex_indices",
            "end_header"]
    vert = np.zeros(len(pts), dtype=[("p", "<f4", 3), ("n", "<f4", 3), ("c", "u1", 3)])
    vert["p"], vert["n"], vert["c"] = pts, nrm, rgb
    face = np.zeros(len(faces), dtype=[("k", "u1"), ("i", "<i4", 3)])
    face["k"], face["i"] = 3, faces
    with open(path, "wb") as fh:
        fh.write(("\n".join(head) + "\n").encode("ascii", "replace"))
        fh.write(vert.tobytes())
        fh.write(face.tobytes())


def write_obj(path: Path, parts: list[Part], space: str, mtl_name: str) -> None:
    """OBJ with one `o`/`g` group and one material (`usemtl`) per structure; the materials are
    in `mtl_name` beside it (`write_mtl`)."""
    lines = [f"# HeadTwin Studio; {tag(space)}", f"mtllib {mtl_name}"]
    base = 1
    for part in parts:
        p = in_space(part.points, space)
        n = in_space(_vertex_normals(part), space)
        lines += [f"o {part.name}", f"g {part.name}", f"usemtl {part.name}",
                  _rows("v %.4f %.4f %.4f", p), _rows("vn %.4f %.4f %.4f", n),
                  _rows("f %d//%d %d//%d %d//%d", np.repeat(part.triangles + base, 2, axis=1))]
        base += len(p)
    path.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")


def write_mtl(path: Path, parts: list[Part], space: str) -> None:
    """The OBJ's materials: colour `Kd` and opacity `d` per structure."""
    lines = [f"# HeadTwin Studio materials; {tag(space)}"]
    for part in parts:
        r, g, b = (c / 255.0 for c in part.rgb)
        lines += [f"newmtl {part.name}", f"Kd {r:.4f} {g:.4f} {b:.4f}",
                  f"d {part.opacity:.3f}", "illum 2", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _rows(line: str, arr: np.ndarray) -> str:
    """One formatted text line per row of `arr`."""
    return "\n".join(line % tuple(row) for row in arr.tolist())


def _vertex_normals(part: Part) -> np.ndarray:
    if part.normals is not None and len(part.normals) == len(part.points):
        return np.asarray(part.normals, dtype=np.float64)
    p, t = np.asarray(part.points, np.float64), part.triangles
    fn = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    vn = np.zeros_like(p)
    for k in range(3):
        vn[:, k] = np.bincount(t.ravel(), np.repeat(fn[:, k], 3), len(p))
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def write_3mf(path: Path, parts: list[Part], space: str) -> None:
    """3MF (a zip of XML): one object per structure with its own colour, millimetres, for
    multi-material printing; the space is stated in the model's metadata."""
    ns = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<model unit="millimeter" xml:lang="en-US" '
           f'xmlns="{ns}">',
           f'<metadata name="Title">HeadTwin Studio twin ({tag(space)})</metadata>',
           f'<metadata name="Description">{tag(space)}</metadata>', "<resources>",
           '<basematerials id="1">']
    for part in parts:
        a = int(round(255 * part.opacity))
        out.append(f'<base name="{part.name}" displaycolor="#{part.rgb[0]:02X}'
                   f'{part.rgb[1]:02X}{part.rgb[2]:02X}{a:02X}"/>')
    out.append("</basematerials>")
    for k, part in enumerate(parts):
        p = in_space(part.points, space)
        out.append(f'<object id="{k + 2}" type="model" name="{part.name}" pid="1" '
                   f'pindex="{k}"><mesh><vertices>')
        out.append("".join(f'<vertex x="{x:.4f}" y="{y:.4f}" z="{z:.4f}"/>'
                           for x, y, z in p.tolist()))
        out.append("</vertices><triangles>")
        out.append("".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>'
                           for a, b, c in part.triangles.tolist()))
        out.append("</triangles></mesh></object>")
    out.append("</resources><build>")
    out += [f'<item objectid="{k + 2}"/>' for k in range(len(parts))]
    out.append("</build></model>")
    types = ('<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats'
             '.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
             'vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" '
             'ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.'
            'model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/'
            '3dmodel"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", rels)
        z.writestr("3D/3dmodel.model", "\n".join(out))


def write_gltf(path: Path, parts: list[Part], binary: bool) -> None:
    """glTF 2.0 in its own frame (metres, +Y superior): `.glb` when `binary`, else `.gltf`
    with the buffer as a data URI."""
    chunks: list[bytes] = []
    views, accessors, meshes, materials, nodes = [], [], [], [], []
    offset = 0

    def add(data: np.ndarray, target: int, comp: int, kind: str, bounds: bool) -> int:
        nonlocal offset
        raw = np.ascontiguousarray(data).tobytes()
        pad = (-len(raw)) % 4
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(raw),
                      "target": target})
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
        acc = {"bufferView": len(views) - 1, "componentType": comp, "count": int(len(data)),
               "type": kind}
        if bounds:
            acc["min"] = data.min(axis=0).astype(float).tolist()
            acc["max"] = data.max(axis=0).astype(float).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    for part in parts:
        pos = (np.asarray(part.points, np.float64) @ _RAS_TO_GLTF.T).astype("<f4")
        nrm = (_vertex_normals(part) @ (_RAS_TO_GLTF.T * 1e3)).astype("<f4")
        big = len(pos) > 65535
        idx = part.triangles.astype("<u4" if big else "<u2").ravel()
        attrs = {"POSITION": add(pos, 34962, 5126, "VEC3", True),
                 "NORMAL": add(nrm, 34962, 5126, "VEC3", False)}
        indices = add(idx, 34963, 5125 if big else 5123, "SCALAR", False)
        material = {"name": part.name, "doubleSided": False,
                    "pbrMetallicRoughness": {
                        "baseColorFactor": [*(c / 255.0 for c in part.rgb), float(part.opacity)],
                        "metallicFactor": 0.0, "roughnessFactor": 0.6}}
        if part.opacity < 1.0:
            material["alphaMode"] = "BLEND"
        materials.append(material)
        meshes.append({"name": part.name, "primitives": [
            {"attributes": attrs, "indices": indices, "material": len(materials) - 1,
             "mode": 4}]})
        nodes.append({"name": part.name, "mesh": len(meshes) - 1,
                      "extras": {"label_id": part.label_id}})
    blob = b"".join(chunks)
    doc = {"asset": {"version": "2.0", "generator": "HeadTwin Studio",
                     "extras": {"frame": GLTF_FRAME}},
           "scene": 0, "scenes": [{"name": "HeadTwin twin", "nodes": list(range(len(nodes)))}],
           "nodes": nodes, "meshes": meshes, "materials": materials, "accessors": accessors,
           "bufferViews": views, "buffers": [{"byteLength": len(blob)}]}
    if not binary:
        doc["buffers"][0]["uri"] = ("data:application/octet-stream;base64,"
                                    + base64.b64encode(blob).decode("ascii"))
        path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        return
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<III", 0x46546C67, 2, total))
        fh.write(struct.pack("<II", len(text), 0x4E4F534A) + text)
        fh.write(struct.pack("<II", len(blob), 0x004E4942) + blob)
