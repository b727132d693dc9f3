"""Outputs of deterministic steps kept between runs, under the repository, keyed by everything they read.

Three kinds, one folder each: `kustomize` (the key, render.BuildMemo.key, hashes every file each build can
read, the kustomize binary's identity and version, and the build options), `promtool` (promtool.py: the
binary, its arguments and every byte of the scratch directory it runs in) and `terraform` (terraform.py:
python-hcl2's version and the file's bytes). This module only stores and returns text for a key; the caller's
key must cover every input. Rules it keeps:

- Never a stale or foreign result: an entry is served only when its HMAC, made with a secret that lives
  outside the repository (the user's cache directory), matches. A pull request can commit files into the
  cache folder (it is gitignored, not forbidden), but it cannot forge an entry without that secret, so a
  committed or corrupt entry is ignored and removed, never served (docs/security.md).
- Written atomically (a temporary file, then a rename), never through a symlink; bounded in size: past
  MAX_BYTES or MAX_ENTRIES the least recently used entries go.
- Any problem (no home directory, a read-only checkout, a symlinked folder) turns the cache off for the run;
  the build then simply runs. `--no-cache` turns it off on purpose.
- Off unless asked for: the person running the tool sets MLPLATFORM_CACHE=1 (a laptop running `check` again
  and again). Without it nothing is written anywhere, so a CI run on an untrusted pull request writes nothing
  outside its checkout, not even the secret (docs/security.md); the repository cannot turn it on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import threading
from pathlib import Path

CACHE_DIR = ".mlplatform-cache"  # at the repository root; in .gitignore, skipped by hygiene
SUBDIR = "kustomize"
KINDS = ("kustomize", "promtool", "terraform")
MAX_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 4000
MAX_ENTRY_BYTES = 64 * 1024 * 1024  # one build's output; larger ones are not kept
_MAGIC = b"mlplatform-kustomize-cache 1\n"
_SUFFIX = ".out"


def binary_identity(path: str, version: str) -> str:
    """What decides a binary's output besides its inputs, for a cache key: its real path, version, and the
    inode, size and modification/change times of the file (a binary replaced in place changes its ctime)."""
    try:
        info = os.stat(path)
        stamp = f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    except OSError:
        stamp = "unreadable"
    return f"{os.path.realpath(path)}\0{version}\0{stamp}"


def secret_path() -> Path:
    """Where the HMAC secret lives: the user's cache directory, never the repository under check."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlplatform" / "build-cache.key"


def _read_secret(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        # someone else's key, or one others can write, could be known to them
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        data = handle.read(64)
    return data if len(data) >= 32 else None


def load_secret() -> bytes | None:
    """This user's secret (created on first use, mode 0600); None when it cannot be had: no cache then."""
    path = secret_path()
    found = _read_secret(path)
    if found is not None:
        return found
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_secret(path)  # another process made it first
    except OSError:
        return None
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return _read_secret(path)


ENV_VAR = "MLPLATFORM_CACHE"  # "1" turns the cache on for this process; set by the user, never the repository
_enabled = True  # False after --no-cache
_shared: dict[tuple[Path, str], BuildCache | None] = {}
_shared_lock = threading.Lock()


def disable() -> None:
    """--no-cache: nothing is read from or written to any cache folder by this process."""
    global _enabled
    _enabled = False
    with _shared_lock:
        _shared.clear()


def enabled() -> bool:
    """The cache is used only when the environment asks for it and --no-cache did not turn it off."""
    return _enabled and os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def shared(repo: Path, kind: str) -> BuildCache | None:
    """One store per repository and kind for this process (the steps that are not handed one by a caller)."""
    key = (repo, kind)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = BuildCache.open(repo, kind)
        return _shared[key]


class BuildCache:
    """kustomize outputs by key in <repo>/.mlplatform-cache/kustomize/<key>.out (thread-safe)."""

    def __init__(self, directory: Path, secret: bytes):
        self.directory = directory
        self._secret = secret
        self._lock = threading.Lock()
        self._sizes: dict[str, tuple[int, float]] | None = None  # entry -> (bytes, mtime), read on first put
        self.hits = 0
        self.stored = 0
        self.discarded = 0  # corrupt or forged entries found and removed

    @classmethod
    def open(cls, repo: Path, kind: str = SUBDIR) -> BuildCache | None:
        """The repository's cache of one kind, or None when it cannot be used safely (then every step runs)."""
        if kind not in KINDS or not enabled():
            return None
        secret = load_secret()
        if secret is None:
            return None
        directory = repo / CACHE_DIR / kind
        current = repo
        try:
            for part in (CACHE_DIR, kind):
                current = current / part
                try:
                    os.mkdir(current, 0o700)
                except FileExistsError:
                    pass
                # a committed symlink would send our writes anywhere: a real directory or nothing
                if not stat.S_ISDIR(os.lstat(current).st_mode):
                    return None
        except OSError:
            return None
        return cls(directory, secret)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, key.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()

    def _path(self, key: str) -> Path | None:
        # keys are hex digests; anything else never names a file
        if not key or len(key) > 128 or any(c not in "0123456789abcdef" for c in key):
            return None
        return self.directory / f"{key}{_SUFFIX}"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return None
                data = handle.read(MAX_ENTRY_BYTES + len(_MAGIC) + 66)
        except OSError:
            return None
        header_end = len(_MAGIC) + 65  # magic, 64 hex digits of HMAC, newline
        mac, payload = data[len(_MAGIC):header_end - 1], data[header_end:]
        if (
            not data.startswith(_MAGIC)
            or data[header_end - 1:header_end] != b"\n"
            or not hmac.compare_digest(mac, self._mac(key, payload))
        ):
            self._discard(path)
            return None
        try:
            text = payload.decode("utf-8")
            os.utime(path)  # least recently used goes first when the cache is full
        except UnicodeDecodeError:
            self._discard(path)
            return None
        except OSError:
            pass
        with self._lock:
            self.hits += 1
        return text

    def _discard(self, path: Path) -> None:
        with self._lock:
            self.discarded += 1
        try:
            path.unlink()
        except OSError:
            pass

    def put(self, key: str, text: str) -> None:
        path = self._path(key)
        payload = text.encode("utf-8", "surrogateescape")
        if path is None or len(payload) > MAX_ENTRY_BYTES:
            return
        data = _MAGIC + self._mac(key, payload) + b"\n" + payload
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)  # replaces a link by that name, never writes through it
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return  # a full disk or a read-only checkout: the build's output is still used, just not kept
        with self._lock:
            self.stored += 1
            self._account(path.name, len(data))

    def _account(self, name: str, size: int) -> None:
        """Track the folder's size (listed once per run) and drop the least recently used past the bounds."""
        if self._sizes is None:
            self._sizes = {}
            try:
                with os.scandir(self.directory) as entries:
                    for entry in entries:
                        if entry.name.endswith(_SUFFIX) and entry.is_file(follow_symlinks=False):
                            info = entry.stat(follow_symlinks=False)
                            self._sizes[entry.name] = (info.st_size, info.st_mtime)
            except OSError:
                pass
        self._sizes[name] = (size, float("inf"))  # just written: the most recent
        total = sum(size for size, _ in self._sizes.values())
        if total <= MAX_BYTES and len(self._sizes) <= MAX_ENTRIES:
            return
        for old, (old_size, _) in sorted(self._sizes.items(), key=lambda item: item[1][1]):
            if total <= MAX_BYTES * 0.8 and len(self._sizes) <= MAX_ENTRIES * 0.8:
                break
            try:
                (self.directory / old).unlink()
            except OSError:
                pass
            total -= old_size
            del self._sizes[old]
