"""/api/v1/audit: the verifiable audit log. The checkpoint, the log's key and the proofs are
public by design — anyone may check that the log only grows — as is handing in a witness's
cosignature (only a listed witness's valid signature is kept); the entries are for the data
office and administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Path, Query, Request, Response

from civicgrid.audit import services
from civicgrid.audit.repository import EntryFilter
from civicgrid.audit.schemas import (
    ConsistencyProofOut,
    CosignaturesOut,
    EntryOut,
    EntryPageOut,
    InclusionProofOut,
    parse_hash,
    parse_moment,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of
from civicgrid.core.permissions import Actor
from civicgrid.core.types import DB_INT_MAX

router = ApiRouter(prefix="/api/v1/audit", tags=["audit"])

# Leaf indices and tree sizes: far beyond any log, within the database's bigint.
MAX_SIZE = 2**62
NOTE = "text/plain; charset=utf-8"


def ports_of(request: Request) -> services.AuditPorts:
    ports: services.AuditPorts = platform_of(request).audit
    return ports


@router.get("/checkpoint", response_class=Response, responses={200: {"content": {NOTE: {}}}})
def checkpoint(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.latest_checkpoint),
) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint): origin, tree size and base64
    root hash, a blank line, the log's Ed25519 signature line and a cosignature line per
    witness. Check it with the key at /api/v1/audit/key."""
    return Response(services.latest_checkpoint(uow, actor), media_type=NOTE)


@router.get("/key", response_class=Response, responses={200: {"content": {NOTE: {}}}})
def key(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.log_key),
) -> Response:
    """The log's verifier key, "<origin>+<key ID>+<base64 key>" (Go's note format)."""
    return Response(services.log_key(uow, actor, ports_of(request)) + "\n", media_type=NOTE)


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def inclusion(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    index: int | None = Query(None, ge=0, le=MAX_SIZE, description="the entry's leaf index"),
    leaf_hash: str | None = Query(
        None, alias="hash", max_length=100, description="or its leaf hash (base64 or hex)"
    ),
    size: int | None = Query(
        None, ge=0, le=MAX_SIZE, description="the tree's size (default: the latest checkpoint's)"
    ),
    actor: Actor = allow(services.inclusion_proof),
) -> InclusionProofOut:
    """The RFC 9162 inclusion proof of one entry (by INDEX or by its leaf HASH) in the tree
    of SIZE entries: hash the leaf with each proof hash in turn and the tree's root comes
    out. 422 for an index beyond the tree or a size larger than it."""
    digest = parse_hash(leaf_hash) if leaf_hash is not None else None
    proof = services.inclusion_proof(uow, actor, index=index, leaf_hash=digest, size=size)
    return InclusionProofOut.of(proof)


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def consistency(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    old: int = Query(..., ge=0, le=MAX_SIZE, description="the smaller tree's size"),
    new: int | None = Query(
        None, ge=0, le=MAX_SIZE, description="the larger tree's size (default: the latest)"
    ),
    actor: Actor = allow(services.consistency_proof),
) -> ConsistencyProofOut:
    """The RFC 9162 consistency proof that the tree of OLD entries is the beginning of the
    tree of NEW entries. 422 for sizes in the wrong order or larger than the tree."""
    return ConsistencyProofOut.of(services.consistency_proof(uow, actor, old, new))


@router.get("/entries/{index}", response_model=EntryOut)
def entry(
    index: Annotated[int, Path(ge=0, le=MAX_SIZE, description="the leaf index")],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.entry),
) -> EntryOut:
    """One entry of the log with its exact leaf (hash it to check its inclusion proof)."""
    return EntryOut.of(services.entry(uow, actor, index))


@router.get("/entries", response_model=EntryPageOut)
def entries(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    unit: str | None = Query(None, max_length=64, description="the acting unit's code"),
    dataset: str | None = Query(None, max_length=120),
    who: str | None = Query(None, max_length=160, description="an account or API key name"),
    record_kind: str | None = Query(None, max_length=120, description="person, case, …"),
    record: int | None = Query(None, ge=1, le=DB_INT_MAX, description="a record's number"),
    since: str | None = Query(None, max_length=40, description="ISO 8601 with its zone"),
    before: str | None = Query(None, max_length=40, description="ISO 8601 with its zone"),
    page: int = Query(1, ge=1, le=DB_INT_MAX),
    actor: Actor = allow(services.search_entries),
) -> EntryPageOut:
    """Entries newest first, filtered by the acting unit, dataset, actor, record and time."""
    where = EntryFilter(
        unit=unit or None,
        dataset=dataset or None,
        actor=who or None,
        record_kind=record_kind or None,
        record_ids=(record,) if record is not None else (),
        since=parse_moment(since, "since"),
        before=parse_moment(before, "before"),
    )
    return EntryPageOut.of(services.search_entries(uow, actor, where, page))


@router.post("/cosignatures", response_model=CosignaturesOut, status_code=201)
def cosignatures(
    request: Request,
    note: Annotated[str, Body(media_type="text/plain", max_length=64 * 1024)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_cosignatures),
) -> CosignaturesOut:
    """Hand in a checkpoint of this log with a witness's cosignature line (C2SP
    tlog-cosignature, cosignature/v1). Kept when the witness is one the platform lists
    (CIVICGRID_AUDIT_WITNESSES) and its signature verifies: 403 for an unknown witness,
    422 for a signature that does not verify, 404 for a checkpoint the log never signed."""
    kept = services.add_cosignatures(uow, actor, note, ports_of(request))
    return CosignaturesOut(kept=kept)
