"""Run one tool in a private mount namespace that shows only its render folder.

The second wall behind reference validation, where the kernel allows it
(Linux with CAP_SYS_ADMIN: a root test machine yes, a restricted pod no).
``toolrun`` runs this file as a script, ``python -I -S jail.py ROOT [--ro SRC DST]...
-- ARGV``; it imports only the standard library, so it starts fast and pulls
nothing of the operator into the tool's process. Steps:

1. ``unshare(CLONE_NEWNS)`` and make every mount private, so nothing done
   here is seen by the host and nothing the host mounts later is seen here;
2. mount a small tmpfs on ``ROOT/.jail``; bind ``ROOT`` read-write and each
   ``SRC`` read-only (system folders, the tool binary, /dev/null) at their
   paths inside it;
3. ``pivot_root`` there and detach the old root (so, unlike a bare chroot, no
   path leads back to it), ``chdir`` back to the working folder and exec ARGV.

Everything else the operator can see (other renders' folders, the Git cache,
the service account token, /proc, /etc) is simply absent for the tool.
``--probe`` in place of ``--`` does every step but the exec and exits 0: how
``toolrun`` detects support.
Failures exit 126 with one line on stderr.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
JAIL = ".jail"
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _bind(source: str, inside: str, *, read_only: bool) -> None:
    """Bind ``source`` at ``inside`` (a path under the new root); symlinks are copied as such.
    A path already visible through an earlier bind (a tool under /usr) is left as it is."""
    if os.path.lexists(inside):
        return
    if os.path.islink(source) and os.path.dirname(source) == "/":
        os.symlink(os.readlink(source), inside)  # /bin -> usr/bin on merged-/usr systems
        return
    if os.path.isdir(source):
        os.makedirs(inside, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        with open(inside, "a"):
            pass
    _mount(source, inside, None, MS_BIND)
    if read_only:
        _mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def enter(root: str, read_only: list[tuple[str, str]]) -> str:
    """Steps 1 and 2; returns the new root folder."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    new_root = os.path.join(root, JAIL)
    os.makedirs(new_root, exist_ok=True)
    _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    _bind(root, new_root + root, read_only=False)
    for source, target in read_only:
        if os.path.lexists(source):
            _bind(source, new_root + target, read_only=True)
    return new_root


def switch_root(new_root: str) -> None:
    """Make ``new_root`` the root and detach the old one; plain chroot where the
    pivot_root syscall number of this machine is not known."""
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        os.chroot(new_root)
        return
    os.chdir(new_root)
    os.mkdir(".old")
    _check(_libc.syscall(number, b".", b".old"), "pivot_root")
    os.chroot(".")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount /.old")
    os.rmdir("/.old")


def main(args: list[str]) -> int:
    """``ROOT [--ro SRC DST]... (-- ARGV | --probe ...)``."""
    root, rest = args[0], args[1:]
    read_only: list[tuple[str, str]] = []
    while rest[:1] == ["--ro"]:
        read_only.append((rest[1], rest[2]))
        rest = rest[3:]
    probe = rest[:1] == ["--probe"]
    argv = rest[1:]
    try:
        cwd = os.getcwd()
        new_root = enter(root, read_only)
        switch_root(new_root)
        if probe:
            return 0
        os.chdir(cwd)
        os.execv(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"jail: {exc.strerror or exc}\n")
        return 126
    return 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
