"""What the audit API answers: proofs (hashes in standard base64, as in checkpoints) and
entries with the exact leaf their hash is taken of."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from civicgrid.audit.domain import ConsistencyProof, InclusionProof
from civicgrid.audit.merkle import HASH_SIZE
from civicgrid.audit.services import EntryPage
from civicgrid.core.errors import FieldProblem
from civicgrid.core.ledger import StoredEntry


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_HEX = re.compile(r"[0-9a-fA-F]{64}")


def parse_hash(text: str, field: str = "hash") -> bytes:
    """A leaf or root hash as a client may write it in a query: standard base64 (a '+' that
    a form turned into a space is read as '+'), URL-safe base64, or 64 hex digits."""
    text = text.strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    try:
        data = base64.b64decode(
            text.replace(" ", "+").replace("-", "+").replace("_", "/"), validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise FieldProblem("audit_hash_invalid", field=field) from exc
    if len(data) != HASH_SIZE:
        raise FieldProblem("audit_hash_invalid", field=field)
    return data


class InclusionProofOut(BaseModel):
    index: int
    size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64")
    hashes: list[str] = Field(description="the proof, the leaf's sibling first, base64")
    root: str = Field(description="the root of the tree of SIZE entries, base64")

    @classmethod
    def of(cls, proof: InclusionProof) -> InclusionProofOut:
        return cls(
            index=proof.index,
            size=proof.size,
            leaf_hash=b64(proof.leaf_hash),
            hashes=[b64(h) for h in proof.hashes],
            root=b64(proof.root),
        )


class ConsistencyProofOut(BaseModel):
    old: int
    new: int
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64")
    old_root: str
    new_root: str

    @classmethod
    def of(cls, proof: ConsistencyProof) -> ConsistencyProofOut:
        return cls(
            old=proof.old,
            new=proof.new,
            hashes=[b64(h) for h in proof.hashes],
            old_root=b64(proof.old_root),
            new_root=b64(proof.new_root),
        )


class EntryOut(BaseModel):
    index: int | None = Field(description="the place in the tree (null: not placed yet)")
    id: int
    at: AwareDatetime
    action: str
    actor: str
    role: str | None
    unit: str | None
    dataset: str | None
    record_kind: str | None
    record_ids: list[int]
    row_count: int | None
    fields: list[str]
    grant: int | None
    reason: str | None
    commitment: str | None = Field(description="HMAC-SHA256(salt, value), base64")
    salt_erased: bool = Field(description="the salt was erased: the value is forgotten")
    leaf: str = Field(description="the leaf, exactly: its SHA-256 with 0x00 first is leaf_hash")
    leaf_hash: str

    @classmethod
    def of(cls, entry: StoredEntry) -> EntryOut:
        return cls(
            index=entry.leaf_index,
            id=entry.id,
            at=entry.at,
            action=entry.action,
            actor=entry.actor,
            role=entry.role,
            unit=entry.unit,
            dataset=entry.dataset,
            record_kind=entry.record_kind,
            record_ids=list(entry.record_ids),
            row_count=entry.row_count,
            fields=list(entry.fields),
            grant=entry.grant,
            reason=entry.reason,
            commitment=b64(entry.commitment) if entry.commitment else None,
            salt_erased=entry.commitment is not None and not entry.salted,
            leaf=entry.leaf.decode(),
            leaf_hash=b64(entry.leaf_hash),
        )


class EntryPageOut(BaseModel):
    items: list[EntryOut]
    total: int
    page: int
    pages: int

    @classmethod
    def of(cls, found: EntryPage) -> EntryPageOut:
        return cls(
            items=[EntryOut.of(e) for e in found.items],
            total=found.total,
            page=found.page,
            pages=found.pages,
        )


class CosignaturesOut(BaseModel):
    kept: list[str] = Field(description="the witnesses whose cosignatures were kept")


def parse_moment(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with its zone (a filter's bound)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FieldProblem("audit_time_invalid", field=field, value=text[:40]) from exc
    if moment.tzinfo is None:
        raise FieldProblem("audit_time_invalid", field=field, value=text[:40])
    return moment
