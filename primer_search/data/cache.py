"""The on-disk cache shared by every process that opens a corpus: where it lives, how it is keyed,
and how it is written so that two processes (two Ray workers) opening one corpus at the same time
can never leave a half-written file behind.

Every artifact is written to a temporary file in its final folder and moved into place with
`os.replace`, which is atomic on POSIX and Windows. A small JSON "manifest" is written last for
each artifact and is the only proof that the artifact is complete. Builders also take an advisory
lock (`fcntl.flock`) so that the second process waits for the first one instead of doing the same
work twice; the lock is released by the kernel if its holder dies, so a crash never blocks anyone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # POSIX only; elsewhere builds are still correct (atomic writes), only not de-duplicated.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_APP_NAME = "primer-search"


def default_cache_dir(xdg_cache_home: str | None = None) -> Path:
    """`$XDG_CACHE_HOME/primer-search` when XDG_CACHE_HOME is set, else `~/.cache/primer-search`.

    The one place the library looks at the environment (the XDG base-directory convention), and
    only when the caller does not pass `xdg_cache_home`; the CLI may pass its own value instead.
    """
    base = xdg_cache_home if xdg_cache_home is not None else os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / _APP_NAME


def stable_hash(value: Any, length: int = 16) -> str:
    """A hex digest of a JSON-able value that is the same on every machine and every run.

    Never `hash()` of a str: it is salted per process (PYTHONHASHSEED).
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def temporary_path(folder: Path, name: str) -> Iterator[Path]:
    """A fresh file path in `folder` (same file system as the target), always removed after."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success move it onto `path` in one step, so a
    reader sees either the old file, or no file, or the whole new one."""
    with temporary_path(path.parent, path.name) as temp:
        yield temp
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a shared cache is read by other users too
        os.replace(temp, path)


def write_json_atomic(path: Path, value: Any) -> None:
    with atomic_output(path) as temp:
        temp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict[str, Any] | None:
    """The manifest at `path`, or None when it is absent or unreadable (then rebuild)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `folder` while building what lives in it."""
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
