"""An independent witness (`civicgrid audit witness`): another unit's own check that the
platform's log only ever grows, with its own key.

Each run fetches the latest checkpoint, checks the log's signature with the log's key (the
one given, or the one it trusted on its first run), and — when it has seen a checkpoint
before (its state file) — asks for a consistency proof from that one to the new one and
checks it. Only then does it cosign (C2SP cosignature/v1) and hand the cosigned checkpoint
back to the platform, which keeps it beside the checkpoint and shows it on the
transparency page. A checkpoint signed by another key, older than the last one seen
(replayed), of the same size with another root (a fork), or not consistent with the last
one (history rewritten, even when re-signed with the platform's own key) is refused, the
state left as it was, and the command exits non-zero naming what is wrong.

The state file keeps the log's key, the last checkpoint cosigned, its size and root; the
key file the witness's private key (generated on first use, readable by its owner only).
Back both up: a witness that loses its state can no longer tell a rewritten history.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.audit import services
from civicgrid.audit.merkle import verify_consistency
from civicgrid.audit.notes import (
    COSIGNATURE_V1,
    Checkpoint,
    Note,
    Signer,
    Verifier,
    b64,
    open_checkpoint,
    parse_skey,
    parse_vkey,
)
from civicgrid.audit.schemas import parse_hash
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import CivicGridError, Conflict
from civicgrid.core.i18n import N_, Locale
from civicgrid.core.instance import UnsafeSecretFile, instance_file
from civicgrid.core.permissions import ANONYMOUS


class WitnessRefusal(Conflict):
    """The witness will not cosign: the message says why (and what in the checkpoint, when
    it could not be read or its signature failed)."""

    def __init__(self, message_key: str, cause: CivicGridError | None = None, **params: Any):
        super().__init__(message_key, **params)
        self.cause = cause

    def message(self, locale: Locale) -> str:
        text = super().message(locale)
        return f"{text}: {self.cause.message(locale)}" if self.cause else text


class LogUnavailable(CivicGridError):
    status = 502
    code = "log_unavailable"


class LogClient(Protocol):
    """How the witness reaches the log: over HTTP, or in the database."""

    def checkpoint(self) -> str: ...
    def log_key(self) -> str: ...
    def consistency(self, old: int, new: int) -> list[bytes]: ...
    def hand_in(self, note: str) -> list[str]: ...


class HttpLog:
    """The log's public API at URL (https://gov.example.cn)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, body: str | None = None) -> bytes:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else body.encode(),
            headers={"Content-Type": "text/plain; charset=utf-8", "Accept-Language": "en"},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data: bytes = answer.read()
                return data
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                detail = json.loads(detail)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = detail[:300]
            raise LogUnavailable(
                N_("audit_witness_log_refused"),
                url=self.url + path,
                status=error.code,
                detail=detail,
            ) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LogUnavailable(
                N_("audit_witness_log_unreachable"), url=self.url, detail=str(reason)
            ) from error

    def checkpoint(self) -> str:
        return self._call("/api/v1/audit/checkpoint").decode()

    def log_key(self) -> str:
        return self._call("/api/v1/audit/key").decode().strip()

    def consistency(self, old: int, new: int) -> list[bytes]:
        query = urllib.parse.urlencode({"old": old, "new": new})
        answer = json.loads(self._call(f"/api/v1/audit/proof/consistency?{query}"))
        return [parse_hash(h) for h in answer["hashes"]]

    def hand_in(self, note: str) -> list[str]:
        answer = json.loads(self._call("/api/v1/audit/cosignatures", note))
        return list(answer["kept"])


class DatabaseLog:
    """The log read and cosigned in its database directly, through the same public services
    (a witness beside the database, or a test)."""

    def __init__(self, session_factory: sessionmaker[Session], ports: services.AuditPorts) -> None:
        self.session_factory = session_factory
        self.ports = ports

    def checkpoint(self) -> str:
        with UnitOfWork(self.session_factory) as uow:
            return services.latest_checkpoint(uow, ANONYMOUS)

    def log_key(self) -> str:
        with UnitOfWork(self.session_factory) as uow:
            return services.log_key(uow, ANONYMOUS, self.ports)

    def consistency(self, old: int, new: int) -> list[bytes]:
        with UnitOfWork(self.session_factory) as uow:
            return services.consistency_proof(uow, ANONYMOUS, old, new).hashes

    def hand_in(self, note: str) -> list[str]:
        with UnitOfWork(self.session_factory) as uow:
            return services.add_cosignatures(uow, ANONYMOUS, note, self.ports)


@dataclass(frozen=True)
class WitnessState:
    """What the witness remembers between runs."""

    origin: str
    log_key: str  # the log's verifier key
    size: int
    root: str  # base64
    checkpoint: str  # the last checkpoint it cosigned, with the log's signature
    seen_at: str  # ISO 8601


def read_state(path: Path) -> WitnessState | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return WitnessState(**{k: data[k] for k in WitnessState.__dataclass_fields__})
    except (ValueError, KeyError, TypeError) as exc:
        raise WitnessRefusal(N_("audit_witness_state_unreadable"), path=str(path)) from exc


def write_state(path: Path, state: WitnessState) -> None:
    """Replace the state file at once (a crash leaves the old one or the new one)."""
    folder = path.absolute().parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, candidate = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(asdict(state), file, ensure_ascii=False, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(candidate, stat.S_IRUSR | stat.S_IWUSR)
        os.replace(candidate, path)
    except BaseException:
        if os.path.exists(candidate):
            os.unlink(candidate)
        raise


def default_name() -> str:
    """The witness key's name when none is given: this machine's."""
    host = "".join(ch for ch in socket.gethostname() if ch.isalnum() or ch in ".-") or "host"
    return f"{host}/civicgrid-witness"


def witness_key(path: Path, name: str | None = None) -> Signer:
    """The witness's private key in PATH, generated (owner-only) on first use."""
    try:
        text = instance_file(
            path.absolute().parent,
            path.name,
            lambda: Signer.generate(name or default_name(), COSIGNATURE_V1).skey,
            what=("witness key", "见证密钥"),
            hint=("choose another --key", "用 --key 指定其他位置"),
        )
    except UnsafeSecretFile as exc:
        raise WitnessRefusal(N_("audit_witness_key_unusable"), detail=str(exc)) from exc
    signer = parse_skey(text)
    if signer.kind != COSIGNATURE_V1:
        raise WitnessRefusal(N_("audit_witness_own_key_kind"), path=str(path))
    return signer


@dataclass(frozen=True)
class Witnessed:
    checkpoint: Checkpoint
    previous: int | None  # the size last seen (None: the first run)
    note: str  # the checkpoint with the witness's cosignature
    kept: list[str]  # the witnesses the log kept cosignatures of
    trusted_on_first_use: bool  # the log's key came from the log itself


def witness_once(
    log: LogClient,
    key: Signer,
    state_path: Path,
    log_key: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Witnessed:
    """Check the log's latest checkpoint against what this witness saw before, cosign it,
    hand the cosignature in; a WitnessRefusal (state unchanged) when the log is not
    consistent with what it saw."""
    state = read_state(state_path)
    first_use = False
    if log_key:
        verifier = parse_vkey(log_key)
        if state is not None and state.log_key != verifier.vkey:
            raise WitnessRefusal(N_("audit_witness_log_key_changed"), key=state.log_key)
    elif state is not None:
        verifier = parse_vkey(state.log_key)
    else:
        verifier = parse_vkey(log.log_key())
        first_use = True
    checkpoint, note = _opened(log.checkpoint(), verifier)
    previous = None
    if state is not None:
        previous = state.size
        _check_against(log, state, checkpoint)
    now = clock()
    seen = WitnessState(
        origin=checkpoint.origin,
        log_key=verifier.vkey,
        size=checkpoint.size,
        root=b64(checkpoint.root),
        checkpoint=Note(
            note.text, tuple(s for s in note.signatures if verifier.signed(s))
        ).render(),
        seen_at=now.isoformat(),
    )
    write_state(state_path, seen)
    cosignature = key.sign(note.text, timestamp=int(now.timestamp()))
    cosigned = Note(note.text, note.signatures).with_signatures(cosignature).render()
    kept = log.hand_in(cosigned)
    return Witnessed(checkpoint, previous, cosigned, kept, first_use)


def _opened(data: str, verifier: Verifier) -> tuple[Checkpoint, Note]:
    try:
        return open_checkpoint(data, verifier)
    except CivicGridError as problem:
        raise WitnessRefusal(N_("audit_witness_bad_checkpoint"), problem) from problem


def _check_against(log: LogClient, state: WitnessState, checkpoint: Checkpoint) -> None:
    old_root = parse_hash(state.root)
    if checkpoint.origin != state.origin:
        raise WitnessRefusal(
            N_("audit_witness_other_log"), origin=checkpoint.origin, seen=state.origin
        )
    if checkpoint.size < state.size:
        raise WitnessRefusal(N_("audit_witness_older"), size=checkpoint.size, seen=state.size)
    if checkpoint.size == state.size:
        if checkpoint.root != old_root:
            raise WitnessRefusal(N_("audit_witness_fork"), size=checkpoint.size)
        return
    proof = log.consistency(state.size, checkpoint.size)
    if not verify_consistency(state.size, checkpoint.size, old_root, checkpoint.root, proof):
        raise WitnessRefusal(N_("audit_witness_inconsistent"), old=state.size, new=checkpoint.size)


def describe(outcome: Witnessed) -> dict[str, Any]:
    return {
        "size": outcome.checkpoint.size,
        "root": b64(outcome.checkpoint.root),
        "previous": outcome.previous,
        "kept": outcome.kept,
    }
