"""`kill -9` at random moments during a write, for every writer of the app.

    python kill_writer.py WRITER FOLDER TRIALS SEED   → one JSON line on stdout

For each trial a forked child rewrites the target again and again, alternating two versions
(A, B); the parent kills it with SIGKILL after a random delay (0 to 1.5 × one write) and checks
that the target reads back as exactly A or B. After the trials the writer runs once more, as the
app's next start would, and no temporary may remain. Used by test_kill9.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import temporaries  # noqa: E402


class Writer:
    """How to write version 0/1 of a target, read it back (→ 0 or 1) and start the app again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, version: int) -> None:
        raise NotImplementedError

    def read(self) -> int:
        raise NotImplementedError

    def restart(self) -> None:  # what the next start does: a writer in the folder cleans it
        self.write(0)


def _volume(seed: int, shape: tuple[int, int, int] = (48, 48, 32)):  # type: ignore[no-untyped-def]
    from headtwin_app.core.volume import Volume

    rng = np.random.default_rng(seed)
    return Volume(rng.normal(100, 20, shape).astype(np.float32), np.diag([1.5, 1.5, 2.0, 1.0]))


def _which(value: np.ndarray, candidates: list[np.ndarray], atol: float = 0.0) -> int:
    for i, c in enumerate(candidates):
        if value.shape == c.shape and np.allclose(value, c, atol=atol, rtol=0):
            return i
    raise AssertionError("the file holds neither version")


def _cli(argv: list[str]) -> None:
    import contextlib
    import io

    from headtwin_app.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"headtwin {' '.join(argv)} exited {code}")


class Convert(Writer):
    """`headtwin convert` into .nii.gz / .mha / .nrrd / .npy / .h5 / a DICOM series folder."""

    def __init__(self, folder: Path, suffix: str) -> None:
        super().__init__(folder)
        from headtwin_app.core.io import save_volume

        self.sources = [save_volume(_volume(s), folder / f"src{s}.nii.gz") for s in (0, 1)]
        self.truth = [_volume(s).data for s in (0, 1)]
        self.target = folder / f"converted{suffix}"
        self.atol = 0.05 if suffix == "" else 1e-5  # a DICOM series stores int16 steps

    def write(self, version: int) -> None:
        _cli(["convert", "--image", str(self.sources[version]), "--out", str(self.target)])

    def read(self) -> int:
        from headtwin_app.core.io import load_volume

        return _which(load_volume(self.target).data, self.truth, self.atol)


class Recon(Convert):
    """`headtwin recon --out` (zero-filled, so each version's output is known exactly)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, ".nii.gz")
        self.target = folder / "recon.nii.gz"
        self.truth = []
        for v in (0, 1):
            self.write(v)
            from headtwin_app.core.io import load_volume

            self.truth.append(load_volume(self.target).data.copy())

    def write(self, version: int) -> None:
        _cli(["recon", "--image", str(self.sources[version]), "--mask", "cartesian", "--accel",
              "2", "--method", "zf", "--out", str(self.target)])


class ProjectSave(Writer):
    """A labelling project's case save (labels + case record)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        from headtwin_app.core.project import Project

        self.project = Project.create(folder / "project")
        vol = _volume(0, (64, 64, 48))
        self.project.add_case("c", vol)
        self.labels = []
        for v in (0, 1):
            lab = np.zeros(vol.shape, np.int16)
            lab[5 + 10 * v:30 + 10 * v, 5:40, 5:30] = 1 + v
            self.labels.append(lab)

    def write(self, version: int) -> None:
        self.project.save_labels("c", self.labels[version])

    def read(self) -> int:
        return _which(np.asarray(self.project.open_case("c").labels.data), self.labels)

    def restart(self) -> None:
        from headtwin_app.core.project import Project

        Project.open(self.project.root)


class Mesh(Writer):
    """`headtwin mesh`: one STL per structure; each file must be one version's whole mesh."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        from headtwin_app.core.io import save_volume
        from headtwin_app.core.volume import Volume

        self.sources = []
        for v in (0, 1):
            lab = np.zeros((40, 40, 40), np.int16)
            lab[5:20 + 8 * v, 5:25, 5:25] = 1
            lab[22:35, 10:30 + 5 * v, 8:30] = 5
            self.sources.append(save_volume(Volume(lab, np.eye(4)), folder / f"lab{v}.nii.gz"))
        self.out = folder / "meshes"
        self.counts: list[dict[str, int]] = []
        for v in (0, 1):
            self.write(v)
            self.counts.append({p.name: _triangles(p) for p in self.out.glob("*.stl")})

    def write(self, version: int) -> None:
        _cli(["mesh", "--labels", str(self.sources[version]), "--out", str(self.out)])

    def read(self) -> int:
        found = 0
        for name in self.counts[0]:
            n = _triangles(self.out / name)
            if n not in (self.counts[0][name], self.counts[1][name]):
                raise AssertionError(f"{name} holds {n} triangles, neither version's")
            found = 0 if n == self.counts[0][name] else 1
        return found


def _triangles(path: Path) -> int:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(80)
        n = int.from_bytes(fh.read(4), "little")
    if size != 84 + 50 * n:
        raise AssertionError(f"{path.name}: {size} bytes for {n} triangles (half written)")
    return n


class Checkpoint(Writer):
    """Both weight writers: the built-in model's and the cascade's."""

    def __init__(self, folder: Path, kind: str) -> None:
        super().__init__(folder)
        import torch

        self.kind = kind
        self.target = folder / f"{kind}.pt"
        self.values = [torch.full((256, 256), float(v)) for v in (0, 1)]

    def write(self, version: int) -> None:
        import torch

        if self.kind == "seg":
            from headtwin_app.core.seg.fit import save_checkpoint

            save_checkpoint({"state_dict": {"w": self.values[version]}}, self.target)
        else:
            from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
            from headtwin_app.core.recon.predict import save_checkpoint as save_cascade

            net = CascadeNet(CascadeConfig(2, 3, 16))
            with torch.no_grad():
                for p in net.parameters():
                    p.fill_(float(version))
            save_cascade(net, self.target)

    def read(self) -> int:
        if self.kind == "seg":
            from headtwin_app.core.weights import load_weights

            w = load_weights(self.target, "checkpoint")["state_dict"]["w"]
            return _which(w.numpy(), [v.numpy() for v in self.values])
        from headtwin_app.core.recon.predict import load_cascade

        first = next(load_cascade(self.target).parameters())
        return int(first.flatten()[0].item())


class Picture(Writer):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.target = folder / "shot.png"
        self.images = [np.full((400, 400, 3), 60 + 120 * v, np.uint8) for v in (0, 1)]
        for img in self.images:
            img[::7] = np.arange(400, dtype=np.uint8)[:, None] % 251

    def write(self, version: int) -> None:
        from headtwin_app.render.offscreen import save_picture

        save_picture(self.images[version], self.target)

    def read(self) -> int:
        from vtkmodules.util import numpy_support as ns
        from vtkmodules.vtkIOImage import vtkPNGReader

        reader = vtkPNGReader()
        reader.SetFileName(str(self.target))
        reader.Update()
        img = reader.GetOutput()
        if img.GetDimensions()[:2] != (400, 400):
            raise AssertionError("not a whole PNG")
        arr = ns.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(400, 400, -1)
        return _which(arr[::-1, :, :3], self.images)


class Text(Writer):
    """The CSV report (sweep) and JSON sidecars."""

    def __init__(self, folder: Path, kind: str) -> None:
        super().__init__(folder)
        self.kind = kind
        self.target = folder / f"report.{kind}"
        self.rows = [[{"mask": f"m{v}{i}", "psnr": float(i)} for i in range(3000)]
                     for v in (0, 1)]

    def write(self, version: int) -> None:
        if self.kind == "csv":
            from headtwin_app.core.sweep_report import write_csv

            write_csv(self.rows[version], self.target)
        else:
            from headtwin_app.core.atomic import atomic_write_text

            atomic_write_text(self.target, json.dumps(self.rows[version]))

    def read(self) -> int:
        text = self.target.read_text(encoding="utf-8")
        if self.kind == "json":
            return 0 if json.loads(text)[0]["mask"] == "m00" else 1
        lines = text.splitlines()
        if len(lines) != 3001:
            raise AssertionError(f"{len(lines)} lines: half a CSV")
        return 0 if lines[1].startswith("m00") else 1


WRITERS: dict[str, Callable[[Path], Writer]] = {
    "project-save": ProjectSave,
    "convert-nii.gz": lambda f: Convert(f, ".nii.gz"),
    "convert-mha": lambda f: Convert(f, ".mha"),
    "convert-nrrd": lambda f: Convert(f, ".nrrd"),
    "convert-npy": lambda f: Convert(f, ".npy"),
    "convert-h5": lambda f: Convert(f, ".h5"),
    "convert-dicom-series": lambda f: Convert(f, ""),
    "recon-out": Recon,
    "mesh": Mesh,
    "checkpoint-seg": lambda f: Checkpoint(f, "seg"),
    "checkpoint-cascade": lambda f: Checkpoint(f, "cascade"),
    "png": Picture,
    "csv": lambda f: Text(f, "csv"),
    "json": lambda f: Text(f, "json"),
}


def _loop(writer: Writer, start: int) -> None:
    """The child: write forever, alternating the versions."""
    v = start
    while True:
        writer.write(v)
        v = 1 - v


def run(name: str, folder: Path, trials: int, seed: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    writer = WRITERS[name](folder)
    writer.write(0)
    t0 = time.perf_counter()
    for v in (1, 0, 1, 0):
        writer.write(v)
    one = (time.perf_counter() - t0) / 4
    rng = random.Random(seed)
    bad, mid_write = [], 0
    for trial in range(trials):
        pid = os.fork()
        if pid == 0:
            try:
                _loop(writer, trial % 2)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.2, 1.7) * one)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        mid_write += bool(temporaries(folder))
        try:
            writer.read()
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            bad.append(f"trial {trial}: {type(exc).__name__}: {exc}")
    left_before = len(temporaries(folder))
    writer.restart()
    return {"writer": name, "trials": trials, "seconds_per_write": round(one, 4),
            "killed_mid_write": mid_write, "unreadable": bad,
            "temporaries_after_kills": left_before,
            "temporaries_after_restart": len(temporaries(folder))}


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch

    torch.set_num_threads(1)
    result = run(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(result))
