"""The fingerprint tells apart machines whose figures differ, and machine ids are safe file names."""

import pytest

from benchharness import machine
from benchharness.errors import ConfigError

AVX2 = (
    "processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: 25\nmodel\t: 1\nstepping\t: 1\nflags\t: fpu avx avx2 fma\n\n"
)
AVX512 = AVX2.replace("avx2 fma", "avx2 fma avx512f avx512bw avx512_vnni").replace("model\t: 1", "model\t: 17")


def fingerprint_with(monkeypatch, cpuinfo):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: dict(_parse(cpuinfo)))
    monkeypatch.delenv("BENCHHARNESS_MACHINE", raising=False)
    machine.fingerprint.cache_clear()
    try:
        return machine.fingerprint()
    finally:
        machine.fingerprint.cache_clear()


def _parse(text):
    for line in text.splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            yield key.strip(), value.strip()


def test_avx2_and_avx512_hosts_with_one_model_name_differ(monkeypatch):
    a = fingerprint_with(monkeypatch, AVX2)
    b = fingerprint_with(monkeypatch, AVX512)
    assert a["cpu"] == b["cpu"] == "AMD EPYC"
    assert a["id"] != b["id"] and "avx512_vnni" in b["isa"] and "avx512_vnni" not in a["isa"]
    assert any(d.startswith("isa:") for d in machine.comparable(a, b))
    assert fingerprint_with(monkeypatch, AVX2)["id"] == a["id"]  # identical runners share one id


def test_clock_readings_are_not_part_of_the_fingerprint(monkeypatch):
    assert not {"cpu_mhz", "temperature_c"} & set(fingerprint_with(monkeypatch, AVX2))


@pytest.mark.parametrize("value", ["../../escaped", "a/b", "", ".hidden", "x" * 200, "lab..01"])
def test_machine_ids_that_would_escape_their_folder_are_refused(monkeypatch, value):
    monkeypatch.setenv("BENCHHARNESS_MACHINE", value)
    with pytest.raises(ConfigError, match="is not a valid machine id"):
        machine.machine_id_from_env()


def test_a_lab_name_is_used_as_is(monkeypatch):
    monkeypatch.setenv("BENCHHARNESS_MACHINE", "lab-x86-01")
    assert machine.machine_id_from_env() == "lab-x86-01"


def test_git_commit_says_why_there_is_none_and_never_stores_head(tmp_path, monkeypatch):
    """A newcomer's finding: in a git repository with no commits yet, `git rev-parse HEAD` printed "HEAD", which was
    stored as the commit, and both sides of a compare read `@ HEAD`."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # git must not find a repository above tmp_path
    plain = tmp_path / "plain"
    plain.mkdir()
    assert machine.git_commit(plain) == machine.GitCommit(None, machine.NOT_A_REPOSITORY)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert machine.git_commit(repo) == machine.GitCommit(None, machine.NO_COMMITS)
    who = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *who, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    made = machine.git_commit(repo)
    assert made.id is not None and len(made.id) == 40 and made.why_none == ""
