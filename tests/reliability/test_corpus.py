"""Every `headtwin` command against the bad- and edge-input corpus (generated here, at test time).

In process: ~300 cases, each must give one line `headtwin: error: ...` naming the file or
argument and exit 2 (or, for edge inputs, exit 0 with strict JSON). In separate processes:
what only a process shows — a crash or hang, a full disk (a file-size limit), a read-only
folder (the unprivileged user `nobody`), a missing optional package.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from corpus import (
    PROGRESS,
    Case,
    build_corpus,
    cleanup_outputs,
    judge,
    run_forked_as_nobody,
    run_process,
    temporaries,
)

from headtwin_app.cli.main import main

GROUPS = ("info", "convert", "simulate", "sweep", "recon", "train-recon", "segment",
          "train-seg", "mesh", "render", "dice", "fuse", "phantom", "export-seg", "cli")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, build_corpus(root)


def test_corpus_covers_every_command(corpus: tuple[Path, list[Case]]) -> None:
    _, cases = corpus
    assert {c.name.split("/")[0] for c in cases} == set(GROUPS)
    assert sum(c.expect == "error" for c in cases) >= 250
    assert sum(c.expect == "ok" for c in cases) >= 20


@pytest.mark.parametrize("group", GROUPS)
def test_corpus(group: str, corpus: tuple[Path, list[Case]], capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> None:
    root, cases = corpus
    monkeypatch.setenv("HEADTWIN_CACHE", str(root / "cache"))
    failures = []
    for case in (c for c in cases if c.name.split("/")[0] == group):
        cleanup_outputs(root)
        code = main(case.argv)
        out, err = capsys.readouterr()
        problems = judge(case, code, out, err)
        if problems:
            failures.append(f"{case.name}: {problems}")
    assert not failures, "\n".join(failures)


def test_missing_optional_package_is_one_line(corpus: tuple[Path, list[Case]],
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = corpus
    monkeypatch.setitem(sys.modules, "nnunetv2", None)  # what `import nnunetv2` sees uninstalled
    code = main(["segment", "--backend", "nnunet", "--image", str(root / "image.nii.gz"),
                 "--out", str(root / "out" / "s.nii.gz"), "--model", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nnunetv2" in err and "pip install" in err


def test_a_bug_is_one_line_naming_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))

    def broken(args: object) -> int:
        return 1 // 0

    monkeypatch.setattr("headtwin_app.cli.io_cmd.run_info", broken)
    code = main(["info", "--image", "whatever.nii.gz"])
    err = capsys.readouterr().err
    log = tmp_path / "logs" / "errors.log"
    assert code == 70 and err.count("\n") == 1 and "Traceback" not in err
    assert "internal error" in err and str(log) in err
    assert "ZeroDivisionError" in log.read_text() and "Traceback" in log.read_text()


def test_library_warnings_go_to_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))

    def noisy(args: object) -> int:
        warnings.warn("a library has something to say", RuntimeWarning, stacklevel=1)
        raise ValueError("input.nii.gz: the real problem")

    monkeypatch.setattr("headtwin_app.cli.io_cmd.run_info", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = main(["info", "--image", "input.nii.gz"])
    err = capsys.readouterr().err
    assert code == 2 and err == "headtwin: error: input.nii.gz: the real problem\n"
    assert "a library has something to say" in (tmp_path / "logs" / "warnings.log").read_text()


# --- in separate processes -----------------------------------------------------------------------
PROCESS_CASES = [  # what once crashed, hung or printed library noise before the error
    "render/size_-10_10", "info/fifo", "info/devzero", "info/no_raw.mhd", "info/flip.mha",
    "info/series_bad", "segment/device_cuda", "recon/model_evil.pt",
    "segment/backend_nnunet_model_nnunet_evil_ckpt", "train-recon/cfg_bomb.json",
    "recon/model_bomb.pt", "info/huge_header", "info/huge_dims.mha",
]


def test_crash_and_hang_prone_cases_in_their_own_process(
        corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    by_name = {c.name: c for c in cases}
    failures = []
    for name in PROCESS_CASES:
        case = by_name[name]
        code, out, err, hung = run_process(case.argv, timeout=120)
        problems = ["hung"] if hung else judge(case, code, out, err)
        if problems:
            failures.append(f"{name}: {problems}")
    assert not failures, "\n".join(failures)


def _out_of_space_argv(root: Path, out: Path) -> dict[str, tuple[list[str], Path]]:
    img, lab = str(root / "image.nii.gz"), str(root / "labels.nii.gz")
    return {
        "convert": (["convert", "--image", img, "--out", str(out / "c.nii.gz")],
                    out / "c.nii.gz"),
        "convert-series": (["convert", "--image", img, "--out", str(out / "series")],
                           out / "series"),
        "recon": (["recon", "--image", img, "--mask", "cartesian", "--accel", "2", "--method",
                   "zf", "--out", str(out / "r.nii.gz")], out / "r.nii.gz"),
        "mesh": (["mesh", "--labels", lab, "--out", str(out / "m")], out / "m" / "1_skull.stl"),
        "render": (["render", "--labels", lab, "--out", str(out / "r.png")], out / "r.png"),
        "sweep": (["sweep", "--image", img, "--masks", "cartesian", "--accels", "2",
                   "--plot", str(out / "s.png")], out / "s.png"),
        "phantom": (["phantom", "--seed", "1", "--spacing", "4", "--out", str(out / "ph")],
                    out / "ph" / "image.nii.gz"),
        "train-seg": (["train-seg", "--cases", str(root / "cases"), "--out", str(out / "m.pt"),
                       "--iterations", "1", "--spacing", "2"], out / "m.pt"),
        "fuse": (["fuse", "--craniofacial", lab, "--brain-dir", str(root / "brain_ok"),
                  "--out", str(out / "t.nii.gz")], out / "t.nii.gz"),
    }


@pytest.mark.parametrize("command", ["convert", "convert-series", "recon", "mesh", "render",
                                     "sweep", "phantom", "train-seg", "fuse"])
def test_full_disk_is_one_line_and_leaves_nothing_half_written(
        command: str, corpus: tuple[Path, list[Case]], tmp_path: Path) -> None:
    """A file-size limit makes every write past 400 bytes fail with EFBIG, as a full disk
    would."""
    root, _ = corpus
    argv, target = _out_of_space_argv(root, tmp_path)[command]
    code, out, err, hung = run_process(argv, file_size_limit=400, timeout=300)
    assert not hung and code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if not PROGRESS.match(ln)]
    assert len(lines) == 1 and lines[0].startswith("headtwin: error: "), err
    assert "Traceback" not in err
    assert not target.exists() or target.is_dir() or target.stat().st_size > 0
    assert not temporaries(tmp_path), temporaries(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="root drops to 'nobody' for a real read-only folder")
@pytest.mark.parametrize("command", ["convert", "mesh", "render", "phantom", "train-seg"])
def test_read_only_folder_is_one_line(command: str, corpus: tuple[Path, list[Case]],
                                      tmp_path: Path) -> None:
    root, _ = corpus
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    argv, target = _out_of_space_argv(root, ro)[command]
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    os.chmod(tmp_path, 0o755)
    code, out, err = run_forked_as_nobody(argv)
    assert code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if not PROGRESS.match(ln)]
    assert len(lines) == 1 and lines[0].startswith("headtwin: error: "), err
    assert "permission denied" in err or "read-only" in err, err
    assert not target.exists()


def test_json_output_is_strict(corpus: tuple[Path, list[Case]],
                               capsys: pytest.CaptureFixture[str]) -> None:
    """An empty reference has no mean Dice (NaN): written as null with its reason."""
    root, _ = corpus
    assert main(["dice", "--reference", str(root / "labels_zero.nii.gz"), "--prediction",
                 str(root / "labels.nii.gz"), "--json"]) == 0
    text = capsys.readouterr().out

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    result = json.loads(text, parse_constant=refuse)
    assert result["mean_dice"] is None and "NaN" in result["null_reasons"]["mean_dice"]
