"""A catalogue of bad sources, for tests that run every CLI command over each.

Each ``BadSource`` is the SOURCE argument with its flags, the exit code each
command documents for it, and a word its one-line error must contain. Built in a
temp folder; Git cases point at the real servers of ``git_servers``.
``render`` exits 1 on any error (0 with a warning for an empty source); ``diff``
exits 2 on bad input; ``sync`` exits 2 on bad input and 1 when the cluster
refuses the objects (a kind it does not know).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


@dataclass(frozen=True)
class BadSource:
    """One bad input: SOURCE and flags, the exit code per command, a word of the error."""

    name: str
    args: tuple[str, ...]
    says: str
    render: int = 1
    diff: int = 2
    sync: int = 2

    def exit_code(self, command: str) -> int:
        code: int = getattr(self, command)
        return code


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return folder


def local_catalogue(root: Path) -> list[BadSource]:
    """Bad local sources (no Git server needed)."""
    cases: list[BadSource] = []

    def case(
        name: str, files: dict[str, str | bytes], says: str, *flags: str, **codes: int
    ) -> None:
        folder = _write(root / name, files)
        cases.append(BadSource(name, (str(folder), *flags), says, **codes))

    cases.append(BadSource("missing-path", (str(root / "does-not-exist"),), "no such folder"))
    case("missing-subpath", {"a.yaml": CM.format(name="a")}, "does not exist", "--path", "nope")
    case("bad-yaml", {"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n"}, "a.yaml")
    case("duplicate-keys", {"a.yaml": CM.format(name="a") + "  k: again\n"}, "duplicate")
    case(
        "duplicates",
        {"a.yaml": CM.format(name="a"), "b/c.yaml": CM.format(name="a")},
        "declared twice",
        "--recurse",
    )
    case(
        "unknown-kind",
        {"rollout.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\n"},
        "Rollout",
        render=0,
        sync=1,
    )
    case("no-name", {"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"}, "metadata.name")
    case(
        "bad-helm-chart",
        {
            "Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
            "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ if }}\n",
        },
        "helm",
    )
    case(
        "helm-missing-values",
        {
            "Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
            "templates/cm.yaml": CM.format(name="c"),
        },
        "nope.yaml",
        "--values",
        "nope.yaml",
    )
    case(
        "bad-kustomization",
        {"kustomization.yaml": "resources:\n  - missing.yaml\n"},
        "kustomiz",
    )
    for name, file, content in (
        ("markdown", "README.md", "# Hello\n\nkey: value\n"),
        ("binary-file", "logo.png", bytes(range(256)) * 4),
    ):
        single = _write(root / name, {file: content}) / file
        cases.append(BadSource(name, (str(single),), "not a manifest file"))
    case("binary-yaml", {"data.yaml": b"\x00\xff\xfe" + bytes(range(256)) * 4}, "data.yaml")
    case("not-utf8", {"a.yaml": "name: caf\xe9\n".encode("latin-1")}, "a.yaml")
    case(
        "alias-bomb",
        {"bomb.yaml": _alias_bomb()},
        "bomb.yaml",
    )
    empty = root / "empty"
    empty.mkdir()
    cases.append(BadSource("empty-folder", (str(empty),), "no objects", render=0, diff=0, sync=0))
    # An exit code 0 case may print one warning line (render) or a summary (diff).
    escape = _write(root / "symlink-escape", {})
    (escape / "passwd.yaml").symlink_to("/etc/passwd")
    cases.append(BadSource("symlink-escape", (str(escape),), "outside"))
    huge = _write(root / "huge", {})
    with open(huge / "big.yaml", "wb") as handle:
        handle.truncate(33 * 1024 * 1024)  # sparse: over the 32 MiB limit, costs no disk
    cases.append(BadSource("huge-file", (str(huge),), "big.yaml"))
    return cases


def git_catalogue(
    git_daemon_url: str, http_url: str, auth_file: Path, bad_auth_file: Path
) -> list[BadSource]:
    """Bad Git sources: ``git_daemon_url``/``http_url`` name served repositories that exist."""
    del auth_file  # the good credentials are not a bad source
    base = git_daemon_url.rsplit("/", 1)[0]
    return [
        BadSource("git-missing-repo", (f"{base}/no-such-repo.git", "--insecure"), "no-such-repo"),
        BadSource("git-insecure", (git_daemon_url,), "--insecure"),
        BadSource("git-missing-ref", (git_daemon_url, "--insecure", "--revision", "nope"), "nope"),
        BadSource(
            "git-wrong-credentials",
            (http_url, "--insecure", "--auth-file", str(bad_auth_file)),
            "auth",
        ),
        BadSource(
            "git-unreachable",
            (f"git://127.0.0.1:{_closed_port()}/x.git", "--insecure"),
            "127.0.0.1",
        ),
    ]


def check(case: BadSource, command: str, done: subprocess.CompletedProcess[str]) -> list[str]:
    """What is wrong with one run (empty when it behaved as documented)."""
    expected = case.exit_code(command) if command in ("render", "diff", "sync") else 2
    lines = done.stderr.splitlines()
    problems = []
    if "Traceback" in done.stderr or "Traceback" in done.stdout:
        problems.append("printed a traceback")
    if done.returncode != expected:
        problems.append(f"exit {done.returncode}, documented {expected}")
    if expected != 0 and len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, expected exactly 1")
    if expected == 0 and len(lines) > 1:
        problems.append(f"{len(lines)} stderr lines on success, expected at most 1")
    says = command == "render" or (expected != 0 and command in ("diff", "sync"))
    if says and lines and case.says not in done.stderr:
        problems.append(f"the message does not mention {case.says!r}")
    return [f"{command} {case.name}: {p}: {done.stderr.strip()[:300]!r}" for p in problems]


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 12):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n" + "".join(
        f"  {line}\n" for line in lines
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


__all__ = ["BadSource", "check", "git_catalogue", "local_catalogue"]
