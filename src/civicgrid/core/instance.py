"""The instance folder (CIVICGRID_INSTANCE_DIR): what one installation keeps of its own
beside its database — the secret key generated when none is configured.

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
from pathlib import Path

SECRET_FILE = "secret_key"
MIN_SECRET_CHARS = 32


class UnsafeSecretFile(ValueError):
    """The secret key file cannot be used as it is; the message says why and what to do."""


def instance_secret(folder: Path) -> str:
    """The secret key kept in FOLDER, generated on the first start.

    Server processes starting at once agree on one: each writes a candidate to a temporary
    file of its own and links it into place, which succeeds for exactly one of them; the
    others then read the winner's file, which is complete from the moment it has its name.
    """
    path = folder.absolute() / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, candidate = tempfile.mkstemp(dir=folder, prefix=f".{SECRET_FILE}.")  # 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass  # another process was first: its secret is everyone's
            else:
                _sync_folder(folder)
        finally:
            os.unlink(candidate)
    except OSError as exc:
        raise UnsafeSecretFile(
            f"cannot create the secret key file {path}: {exc.strerror}; make the folder "
            "writable, or set CIVICGRID_INSTANCE_DIR or CIVICGRID_SECRET_KEY "
            f"(无法创建密钥文件 {path}：请使该目录可写，或设置 CIVICGRID_INSTANCE_DIR "
            "或 CIVICGRID_SECRET_KEY)"
        ) from exc
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    mode = path.stat().st_mode
    # Windows has no owner-only mode bits to check; its folder permissions apply there.
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafeSecretFile(
            f"the secret key file {path} can be read or written by other users (mode "
            f"{stat.S_IMODE(mode):04o}); restrict it to its owner: chmod 600 {path} "
            f"(密钥文件 {path} 的权限允许其他用户访问，请执行 chmod 600 {path})"
        )
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise UnsafeSecretFile(
            f"the secret key file {path} holds fewer than {MIN_SECRET_CHARS} characters; "
            "delete it to have a new one generated, or write a longer secret in it "
            f"(密钥文件 {path} 少于 {MIN_SECRET_CHARS} 个字符：删除后将重新生成，"
            "或写入更长的密钥)"
        )
    return secret


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
