"""The instance folder (CIVICGRID_INSTANCE_DIR): what one installation keeps of its own
beside its database — the secret key generated when none is configured, and the audit
log's signing key (civicgrid.audit).

A generated secret must be the same for every process of the installation and survive
restarts: it signs the access tokens and reporters' passes, and keys the registry's identity
hashes, which are stored. So it is written once, readable by its owner only, and read on
every later start.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

SECRET_FILE = "secret_key"
MIN_SECRET_CHARS = 32


class UnsafeSecretFile(ValueError):
    """The secret key file cannot be used as it is; the message says why and what to do."""


def instance_secret(folder: Path) -> str:
    """The secret key kept in FOLDER, generated on the first start."""
    secret = instance_file(
        folder,
        SECRET_FILE,
        lambda: secrets.token_urlsafe(48),
        what=("secret key", "密钥"),
        hint=(
            "set CIVICGRID_INSTANCE_DIR or CIVICGRID_SECRET_KEY",
            "设置 CIVICGRID_INSTANCE_DIR 或 CIVICGRID_SECRET_KEY",
        ),
    )
    if len(secret) < MIN_SECRET_CHARS:
        path = folder.absolute() / SECRET_FILE
        raise UnsafeSecretFile(
            f"the secret key file {path} holds fewer than {MIN_SECRET_CHARS} characters; "
            "delete it to have a new one generated, or write a longer secret in it "
            f"(密钥文件 {path} 少于 {MIN_SECRET_CHARS} 个字符：删除后将重新生成，"
            "或写入更长的密钥)"
        )
    return secret


def instance_file(
    folder: Path,
    name: str,
    generate: Callable[[], str],
    *,
    what: tuple[str, str],
    hint: tuple[str, str],
) -> str:
    """The private text kept in FOLDER/NAME (stripped), GENERATE()d on the first start and
    readable by its owner only. WHAT names it and HINT says where else to keep it, in
    English and Chinese (for the messages).

    Server processes starting at once agree on one: each writes a candidate to a temporary
    file of its own and links it into place, which succeeds for exactly one of them; the
    others then read the winner's file, which is complete from the moment it has its name.
    """
    path = folder.absolute() / name
    try:
        return _read_private(path, what)
    except FileNotFoundError:
        pass
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, candidate = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(generate() + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass  # another process was first: its file is everyone's
            else:
                _sync_folder(folder)
        finally:
            os.unlink(candidate)
    except OSError as exc:
        raise UnsafeSecretFile(
            f"cannot create the {what[0]} file {path}: {exc.strerror}; make the folder "
            f"writable, or {hint[0]} (无法创建{what[1]}文件 {path}：请使该目录可写，或{hint[1]})"
        ) from exc
    return _read_private(path, what)


def _read_private(path: Path, what: tuple[str, str]) -> str:
    mode = path.stat().st_mode
    # Windows has no owner-only mode bits to check; its folder permissions apply there.
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafeSecretFile(
            f"the {what[0]} file {path} can be read or written by other users (mode "
            f"{stat.S_IMODE(mode):04o}); restrict it to its owner: chmod 600 {path} "
            f"({what[1]}文件 {path} 的权限允许其他用户访问，请执行 chmod 600 {path})"
        )
    return path.read_text(encoding="utf-8").strip()


def _sync_folder(folder: Path) -> None:
    """Make the new file's name durable, so a crash now cannot lose the secret that tokens
    are already being signed with."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
