"""Component processes are recorded and stopped with their whole process group."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tether.localcluster import procs
from tether.localcluster.errors import ComponentExitedError


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _sh(script: str, run_dir: Path) -> list[str]:
    # The run folder as $0 puts it on the command line, as real components have it.
    return ["sh", "-c", script, str(run_dir)]


def test_stop_kills_the_component_and_its_children(tmp_path: Path) -> None:
    comp, proc = procs.start_component(
        tmp_path, "parent", _sh("sleep 300 & sleep 300 & wait", tmp_path), die_with_parent=True
    )
    deadline = time.monotonic() + 5
    while len(_group_members(comp.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_group_members(comp.pid)) == 3
    assert procs.recorded_pids(tmp_path) == {"parent": comp.pid}

    stopped = procs.stop_components(tmp_path, ["parent"])

    assert stopped == ["parent"]
    proc.wait(timeout=5)
    assert _group_members(comp.pid) == []
    assert procs.recorded_pids(tmp_path) == {}


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    comp, proc = procs.start_component(
        tmp_path,
        "stubborn",
        _sh("trap '' TERM; echo up; while :; do sleep 0.1; done", tmp_path),
        die_with_parent=True,
    )
    deadline = time.monotonic() + 5
    while b"up" not in comp.log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert b"up" in comp.log.read_bytes()  # the TERM trap is in place before we stop it

    procs.stop_components(tmp_path, ["stubborn"], grace=0.5)

    # stop_components reaps its own children, so Popen may only see ECHILD (returncode
    # 0); what matters is that the TERM-proof group is gone, which only SIGKILL does.
    returncode = proc.wait(timeout=5)
    assert returncode in (-9, 0)
    assert _group_members(comp.pid) == []
    assert procs.recorded_pids(tmp_path) == {}


def test_a_recycled_pid_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "etcd.pid").write_text(f"{os.getpid()}\n")

    assert procs.is_ours(os.getpid(), tmp_path) is False
    assert procs.stop_components(tmp_path, ["etcd"]) == []
    assert procs.recorded_pids(tmp_path) == {}


def test_an_exited_component_reports_its_log_tail(tmp_path: Path) -> None:
    comp, proc = procs.start_component(
        tmp_path,
        "broken",
        _sh("echo 'bind: address already in use'; exit 3", tmp_path),
        die_with_parent=True,
    )
    proc.wait(timeout=5)
    with pytest.raises(ComponentExitedError) as info:
        procs.check_running(comp, proc)
    assert info.value.returncode == 3
    assert "address already in use" in str(info.value)


def test_free_port_can_be_bound_on_loopback() -> None:
    import socket

    port = procs.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
