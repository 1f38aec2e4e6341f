"""Usable CPUs (issue 23): the affinity mask and the cgroup's CPU quota, not the host's count, set the threads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchharness.cpu_quota import quota_cpus
from benchharness.machine import comparable, fingerprint
from conftest import child_env, child_pytest_command, digits_project, latest


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize(
    ("proc", "files", "expected"),
    [
        ("0::/docker/abc\n", {"fs/docker/abc/cpu.max": "150000 100000\n"}, 2),  # v2, --cpus=1.5: two threads run
        ("0::/docker/abc\n", {"fs/docker/abc/cpu.max": "max 100000\n"}, None),  # v2, no quota
        ("0::/\n", {"fs/cpu.max": "100000 100000\n"}, 1),  # v2, the group at the root of a namespace
        (
            "4:cpu,cpuacct:/job\n",
            {"fs/cpu,cpuacct/job/cpu.cfs_quota_us": "300000", "fs/cpu,cpuacct/job/cpu.cfs_period_us": "100000"},
            3,
        ),
        ("1:cpu:/\n", {"fs/cpu/cpu.cfs_quota_us": "-1", "fs/cpu/cpu.cfs_period_us": "100000"}, None),  # v1, none
        ("4:memory:/x\n", {}, None),  # no cpu controller named
    ],
)
def test_the_cgroup_quota_is_read_as_whole_cpus(tmp_path: Path, proc: str, files: dict[str, str], expected: int | None):
    _tree(tmp_path, {"proc": proc, **files})
    (tmp_path / "fs").mkdir(exist_ok=True)
    assert quota_cpus(tmp_path / "proc", tmp_path / "fs") == expected


def test_a_fingerprint_stored_before_usable_cpus_were_recorded_compares_as_unlimited():
    here = {**fingerprint(), "logical_cores": 4, "usable_cpus": 4}
    stored = {k: v for k, v in here.items() if k != "usable_cpus"}
    assert comparable(stored, here) == []
    assert comparable(stored, {**here, "usable_cpus": 1}) == ["usable_cpus: 4 vs 1"]


@pytest.mark.skipif(shutil.which("taskset") is None or (os.cpu_count() or 1) < 2, reason="needs taskset and 2+ CPUs")
@pytest.mark.e2e
def test_under_taskset_one_cpu_the_run_uses_one_thread_and_is_another_machine(tmp_path: Path):
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

    root = digits_project(tmp_path)
    env = {k: v for k, v in child_env().items() if k != "BENCHHARNESS_MACHINE"}
    done = subprocess.run(
        ["taskset", "-c", "0", *child_pytest_command("-k", "fp32")],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    run = latest(root)["run"]
    assert run["threads"] == 1, run["threads"]
    machine = run["machine"]
    assert machine["usable_cpus"] == 1 and f"-1of{machine['logical_cores']}c-" in machine["id"], machine["id"]
    assert machine["id"] != fingerprint()["id"] or fingerprint()["usable_cpus"] == 1
