"""The verifiable audit log on a real database: entries placed in order, checkpoints signed,
proofs any client can check (here with the RFC's own definitions), every tampering named
by `audit verify`, and a witness that refuses a rewritten history."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import BigInteger, cast, delete, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.audit import services
from civicgrid.audit.merkle import Tiles, extend
from civicgrid.audit.notes import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteSignature,
    Signer,
    open_checkpoint,
    parse_note,
    parse_vkey,
    sign_checkpoint,
)
from civicgrid.audit.repository import (
    AuditRepository,
    TreeState,
    audit_tiles,
    suspect_leaves,
)
from civicgrid.audit.witness import DatabaseLog, WitnessRefusal, witness_key, witness_once
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import Conflict
from civicgrid.core.jobs import run_due
from civicgrid.core.ledger import (
    RECORD_BLOCK,
    RECORD_BLOCKS,
    Action,
    Entry,
    Ledger,
    audit_entries,
    audit_leaves,
    audit_pending,
    leaf_hash,
)
from civicgrid.core.permissions import ANONYMOUS, SYSTEM, Actor, Role
from tests.unit.test_audit_merkle import consistent, root_from_path

GRID_WORKER = Actor("gw.990101001", Role.GRID_WORKER, area_code="990101001", department_code=None)
HOUSING = Actor("h.housing", Role.HANDLER, department_code="990100-ZJJ")
SYSTEM_KEY = Actor("apikey:civil-affairs", Role.API_CLIENT, department_code="990100-MZJ")


def append(platform: Platform, count: int, actor: Actor = GRID_WORKER, start: int = 1) -> None:
    with UnitOfWork(platform.session_factory) as uow:
        for n in range(start, start + count):
            Ledger(uow.session).append(
                Entry.by(
                    actor,
                    Action.PERSONAL_READ,
                    record_kind="person",
                    record_ids=[n, n + 1],
                    fields=("name", "phone"),
                )
            )
        uow.commit()


def checkpoint(platform: Platform) -> services.Sequenced:
    with UnitOfWork(platform.session_factory) as uow:
        return services.checkpoint_now(uow, SYSTEM, platform.audit)


def verify(platform: Platform) -> list[str]:
    with UnitOfWork(platform.session_factory) as uow:
        report = services.verify_log(uow, SYSTEM, platform.audit)
    return [p.message("en") for p in report.problems]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def admin_headers(scratch: Platform, scratch_client: TestClient) -> dict[str, str]:
    with UnitOfWork(scratch.session_factory) as uow:
        add_user(uow, SYSTEM, NewUser("data.office", "data_admin", "data-office-password"))
        add_user(uow, SYSTEM, NewUser("resident.li", "resident", "resident-password"))
    answer = scratch_client.post(
        "/api/v1/auth/token", data={"username": "data.office", "password": "data-office-password"}
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


# ------------------------------------------------------------------ entries, tree, checkpoint


def test_entries_get_consecutive_places_in_the_order_they_were_numbered(scratch: Platform) -> None:
    append(scratch, 2)
    append(scratch, 1, HOUSING)
    with UnitOfWork(scratch.session_factory) as uow:
        assert AuditRepository(uow.session).pending() == 3
    done = checkpoint(scratch)
    assert (done.old, done.new) == (0, 3)
    with UnitOfWork(scratch.session_factory) as uow:
        rows = uow.session.execute(
            select(audit_leaves.c.entry_id, audit_leaves.c.leaf_index).order_by(
                audit_leaves.c.entry_id
            )
        ).all()
        assert AuditRepository(uow.session).pending() == 0
        numbers = uow.session.execute(select(audit_entries.c.id).order_by(audit_entries.c.id))
        assert [r.entry_id for r in rows] == list(numbers.scalars())
    assert [r.leaf_index for r in rows] == [0, 1, 2]
    assert checkpoint(scratch).checkpoint is None  # nothing new: nothing signed
    assert verify(scratch) == []


def test_an_entry_and_its_place_in_the_queue_are_written_together(scratch: Platform) -> None:
    # Left uncommitted: on PostgreSQL each statement has committed by itself (the entry and
    # its queue row are one statement), on SQLite the transaction still holds both.
    with UnitOfWork(scratch.session_factory) as uow:
        uow.each_statement_commits()
        Ledger(uow.session).append(Entry.by(GRID_WORKER, Action.PERSONAL_READ))
    with UnitOfWork(scratch.session_factory) as uow:
        written = uow.session.execute(select(audit_entries.c.id)).scalars().all()
        queued = uow.session.execute(select(audit_pending.c.entry_id)).scalars().all()
    assert written == queued
    assert len(written) == (1 if scratch.engine.dialect.name == "postgresql" else 0)


def test_an_entry_holds_no_personal_value_only_a_salted_commitment(scratch: Platform) -> None:
    number = "110105199001011234"
    with UnitOfWork(scratch.session_factory) as uow:
        entry_id = Ledger(uow.session).append(
            Entry.by(SYSTEM_KEY, Action.VERIFY_QUESTION, dataset="registry.people", personal=number)
        )
        uow.commit()
    checkpoint(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        stored = AuditRepository(uow.session).entry_at(0)
        assert stored is not None
        assert number.encode() not in stored.leaf
        assert Ledger(uow.session).committed_to(entry_id, number) is True
        assert Ledger(uow.session).committed_to(entry_id, "110105199001019999") is False


def test_a_residents_phone_login_is_kept_masked(scratch: Platform) -> None:
    resident = Actor("13912345678", Role.RESIDENT)
    entry = Entry.by(resident, Action.PERSONAL_READ, record_kind="case", record_ids=[4])
    assert entry.actor == "139****5678"


def test_forgetting_a_person_erases_the_salts_and_the_log_still_verifies(
    scratch: Platform,
) -> None:
    with UnitOfWork(scratch.session_factory) as uow:
        entry_id = Ledger(uow.session).append(
            Entry.by(
                HOUSING,
                Action.PERSONAL_READ,
                record_kind="person",
                record_ids=[42],
                personal="110105199001011234",
            )
        )
        uow.commit()
    checkpoint(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        assert Ledger(uow.session).forget("person", [42]) == 1
        uow.commit()
        assert Ledger(uow.session).committed_to(entry_id, "110105199001011234") is None
    assert verify(scratch) == []


def test_two_processes_appending_at_once_get_distinct_consecutive_places(
    scratch: Platform,
) -> None:
    def writer(n: int) -> None:
        for batch in range(5):
            append(scratch, 4, Actor(f"worker{n}", Role.GRID_WORKER), start=n * 100 + batch * 4)

    def sequencer() -> None:
        for _ in range(10):
            checkpoint(scratch)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=sequencer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checkpoint(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        places = uow.session.execute(select(audit_leaves.c.leaf_index)).scalars().all()
    assert sorted(places) == list(range(80))
    assert verify(scratch) == []


def test_the_checkpoint_job_signs_while_entries_arrive(scratch: Platform) -> None:
    (job,) = [j for j in scratch.jobs if j.name == services.CHECKPOINT_JOB]
    assert job.every.total_seconds() == scratch.settings.audit_checkpoint_seconds
    append(scratch, 5)
    done = dict(run_due(scratch.session_factory, [job], utcnow()))
    assert done[services.CHECKPOINT_JOB] == "checkpoint of 5 entries (5 new)"


# ------------------------------------------------------------------ what anyone may check


def test_the_checkpoint_is_a_signed_note_anyone_checks_with_the_logs_key(
    scratch: Platform, scratch_client: TestClient
) -> None:
    assert scratch_client.get("/api/v1/audit/checkpoint").status_code == 404
    append(scratch, 10)
    checkpoint(scratch)
    answer = scratch_client.get("/api/v1/audit/checkpoint")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    key = scratch_client.get("/api/v1/audit/key").text.strip()
    found, note = open_checkpoint(answer.text, parse_vkey(key))
    assert (found.origin, found.size) == (scratch.settings.audit_origin, 10)
    assert len(note.signatures) == 1


def test_proofs_from_the_api_check_out_with_the_rfcs_definitions(
    scratch: Platform, scratch_client: TestClient, admin_headers: dict[str, str]
) -> None:
    append(scratch, 300)
    first = checkpoint(scratch).checkpoint
    append(scratch, 213, HOUSING, start=1000)
    second = checkpoint(scratch).checkpoint
    assert first is not None and second is not None
    for index in (0, 1, 255, 256, 299, 511, 512):
        proof = scratch_client.get(f"/api/v1/audit/proof/inclusion?index={index}").json()
        assert proof["size"] == 513
        entry = scratch_client.get(f"/api/v1/audit/entries/{index}", headers=admin_headers).json()
        leaf = hashlib.sha256(b"\x00" + entry["leaf"].encode()).digest()
        assert base64.b64encode(leaf).decode() == entry["leaf_hash"] == proof["leaf_hash"]
        path = [b64(h) for h in proof["hashes"]]
        assert root_from_path(index, leaf, 513, path) == second.root
        by_hash = scratch_client.get(
            "/api/v1/audit/proof/inclusion", params={"hash": entry["leaf_hash"]}
        ).json()
        assert by_hash == proof
    older = scratch_client.get("/api/v1/audit/proof/inclusion?index=7&size=300").json()
    assert root_from_path(7, b64(older["leaf_hash"]), 300, [b64(h) for h in older["hashes"]]) == (
        first.root
    )
    proof = scratch_client.get("/api/v1/audit/proof/consistency?old=300&new=513").json()
    assert consistent(300, 513, first.root, second.root, [b64(h) for h in proof["hashes"]])


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("/proof/inclusion?index=20", 422, "index: index 20 is beyond the tree of 20 entries"),
        ("/proof/inclusion?index=0&size=21", 422, "size: size 21 is beyond the audit log's tree"),
        ("/proof/inclusion", 422, "give the entry's index or its leaf hash"),
        ("/proof/inclusion?hash=nothash", 422, "not a hash"),
        ("/proof/inclusion?hash=" + "0" * 64, 404, "no entry of the audit log has this leaf"),
        ("/proof/inclusion?index=-1", 422, "index"),
        ("/proof/consistency?old=10&new=5", 422, "sizes in the wrong order"),
        ("/proof/consistency?old=5&new=21", 422, "new: size 21 is beyond"),
        ("/proof/consistency", 422, "old"),
    ],
)
def test_bad_questions_get_clear_answers(
    scratch: Platform, scratch_client: TestClient, query: str, status: int, words: str
) -> None:
    append(scratch, 20)
    checkpoint(scratch)
    answer = scratch_client.get("/api/v1/audit" + query, headers={"Accept-Language": "en"})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_the_entries_are_for_the_data_office(
    scratch: Platform, scratch_client: TestClient, admin_headers: dict[str, str]
) -> None:
    append(scratch, 3)
    append(scratch, 2, HOUSING, start=50)
    checkpoint(scratch)
    assert scratch_client.get("/api/v1/audit/entries/0").status_code == 401
    token = scratch_client.post(
        "/api/v1/auth/token", data={"username": "resident.li", "password": "resident-password"}
    ).json()["access_token"]
    resident = {"Authorization": f"Bearer {token}"}
    assert scratch_client.get("/api/v1/audit/entries/0", headers=resident).status_code == 403
    missing = scratch_client.get(
        "/api/v1/audit/entries/5", headers={**admin_headers, "Accept-Language": "en"}
    )
    assert missing.status_code == 404
    assert "no entry at index 5" in missing.json()["error"]["message"]
    page = scratch_client.get(
        "/api/v1/audit/entries",
        params={"unit": "990100-ZJJ", "record_kind": "person", "record": 51},
        headers=admin_headers,
    ).json()
    assert page["total"] == 2
    assert {e["actor"] for e in page["items"]} == {"h.housing"}
    wrong = scratch_client.get(
        "/api/v1/audit/entries", params={"since": "yesterday"}, headers=admin_headers
    )
    assert wrong.status_code == 422


# ------------------------------------------------------------------ tampering


def rows_in_order(platform: Platform) -> list[int]:
    with UnitOfWork(platform.session_factory) as uow:
        return list(
            uow.session.execute(
                select(audit_leaves.c.entry_id).order_by(audit_leaves.c.leaf_index)
            ).scalars()
        )


def test_verify_names_an_altered_entry(scratch: Platform) -> None:
    append(scratch, 40)
    checkpoint(scratch)
    ids = rows_in_order(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        uow.session.execute(
            update(audit_entries).where(audit_entries.c.id == ids[17]).values(actor="someone.else")
        )
        uow.commit()
    assert verify(scratch) == [
        "entry 17 was altered: its content no longer matches the leaf hash in the tree"
    ]


def test_verify_names_a_deleted_entry(scratch: Platform) -> None:
    append(scratch, 40)
    checkpoint(scratch)
    ids = rows_in_order(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        uow.session.execute(delete(audit_entries).where(audit_entries.c.id == ids[9]))
        uow.commit()
    assert verify(scratch) == ["entries 9 to 9 are missing: deleted"]


def swap_places(session: Session, first: int, second: int) -> None:
    """Give the entries at places FIRST and SECOND each other's place."""
    places = audit_leaves.c
    held = dict(
        session.execute(
            select(places.leaf_index, places.entry_id).where(places.leaf_index.in_([first, second]))
        ).all()
    )
    session.execute(update(audit_leaves).where(places.leaf_index == first).values(entry_id=-1))
    session.execute(
        update(audit_leaves).where(places.leaf_index == second).values(entry_id=held[first])
    )
    session.execute(
        update(audit_leaves).where(places.leaf_index == first).values(entry_id=held[second])
    )


def test_verify_names_reordered_entries(scratch: Platform) -> None:
    append(scratch, 40)
    checkpoint(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        swap_places(uow.session, 3, 5)
        uow.commit()
    problems = verify(scratch)
    assert problems[0].startswith("entry 3 is out of place: its content belongs at 5")
    assert problems[1].startswith("entry 5 is out of place: its content belongs at 3")


def test_verify_names_what_changed_in_any_tile_and_in_both_halves(scratch: Platform) -> None:
    # 700 entries: three leaf tiles, split in two halves on PostgreSQL, each checked by
    # the server a tile at a time and the tiles it cannot vouch for again in Python.
    append(scratch, 700)
    checkpoint(scratch)
    ids = rows_in_order(scratch)
    table = audit_entries
    with UnitOfWork(scratch.session_factory) as uow:
        uow.session.execute(update(table).where(table.c.id == ids[300]).values(row_count=9))
        uow.session.execute(delete(table).where(table.c.id == ids[520]))
        swap_places(uow.session, 698, 699)
        uow.commit()
    problems = verify(scratch)
    assert (
        "entry 300 was altered: its content no longer matches the leaf hash in the tree" in problems
    )
    assert "entries 520 to 520 are missing: deleted" in problems
    assert any(
        p.startswith("entry 698 is out of place: its content belongs at 699") for p in problems
    )
    assert len(problems) == 4, problems
    with UnitOfWork(scratch.session_factory) as uow:
        assert services.verify_log(uow, SYSTEM, scratch.audit).first_entry == 300


def test_verify_names_a_hidden_read_and_a_truncated_log(scratch: Platform) -> None:
    append(scratch, 12)
    checkpoint(scratch)
    ids = rows_in_order(scratch)
    with UnitOfWork(scratch.session_factory) as uow:
        # Taking a record out of an entry hides the read from the resident's page.
        uow.session.execute(
            update(audit_entries).where(audit_entries.c.id == ids[4]).values(record_ids="6")
        )
        # The last three entries and the tree's last nodes removed, the size set back.
        repo = AuditRepository(uow.session)
        hashes = _leaf_hashes(uow.session)[:9]
        for entry_id in ids[9:]:
            uow.session.execute(delete(audit_entries).where(audit_entries.c.id == entry_id))
        tiles = extend(0, hashes, {})
        uow.session.execute(delete(audit_tiles))
        repo.put_tiles(tiles)
        repo.set_state(TreeState(9, _root(tiles, 9)), utcnow())
        uow.commit()
    problems = verify(scratch)
    assert problems[0] == (
        "entry 4 was altered: its content no longer matches the leaf hash in the tree"
    )
    assert any("a signed checkpoint holds 12 entries and the tree only 9" in p for p in problems)


def test_every_read_of_a_record_is_one_look_up(scratch: Platform) -> None:
    append(scratch, 30)
    with UnitOfWork(scratch.session_factory) as uow:
        found, total = AuditRepository(uow.session).entries_naming({"person": [7]}, 10, 0)
    assert total == 2 and {e.record_ids for e in found} == {(6, 7), (7, 8)}
    if scratch.engine.dialect.name != "postgresql":
        return
    with scratch.engine.connect() as connection:  # the index of the blocks entries name
        connection.execute(text("SET enable_seqscan = off"))
        blocks = RECORD_BLOCKS.overlap(cast([7 // RECORD_BLOCK], ARRAY(BigInteger)))
        stmt = select(audit_entries.c.id).where(blocks)  # what naming() asks the index
        sql = str(stmt.compile(connection, compile_kwargs={"literal_binds": True}))
        plan = connection.execute(text(f"EXPLAIN {sql}")).scalars()
        assert "ix_audit_entries_record_blocks" in "\n".join(plan)


def _leaf_hashes(session: Session) -> list[bytes]:
    rows = session.execute(
        select(audit_entries.c.leaf_hash)
        .join(audit_leaves, audit_leaves.c.entry_id == audit_entries.c.id)
        .order_by(audit_leaves.c.leaf_index)
    )
    return [bytes(r[0]) for r in rows]


def _root(tiles: dict[tuple[int, int], bytes], size: int) -> bytes:
    return Tiles(tiles).root(size)


def rewrite_history(platform: Platform, index: int, *, sign: bool = True) -> None:
    """What an administrator holding the database and the platform's key could do: change
    an entry, recompute every node so the stored tree agrees, and sign a new checkpoint."""
    with UnitOfWork(platform.session_factory) as uow:
        session = uow.session
        ids = list(
            session.execute(
                select(audit_leaves.c.entry_id).order_by(audit_leaves.c.leaf_index)
            ).scalars()
        )
        repo = AuditRepository(session)
        entry = repo.entry_at(index)
        assert entry is not None
        session.execute(
            update(audit_entries)
            .where(audit_entries.c.id == ids[index])
            .values(actor="nobody", leaf_hash=b"")
        )
        changed = repo.entry_at(index)
        assert changed is not None
        session.execute(
            update(audit_entries)
            .where(audit_entries.c.id == ids[index])
            .values(leaf_hash=leaf_hash(changed.leaf))
        )
        hashes = _leaf_hashes(session)
        tiles = extend(0, hashes, {})
        session.execute(delete(audit_tiles))
        repo.put_tiles(tiles)
        root = _root(tiles, len(hashes))
        repo.set_state(TreeState(len(hashes), root), utcnow())
        if sign:
            note = sign_checkpoint(
                Checkpoint(platform.audit.origin, len(hashes), root), platform.audit.signer()
            )
            repo.add_checkpoint(len(hashes), root, note.render(), utcnow())
        uow.commit()


def test_verify_names_a_history_rewritten_and_re_signed(scratch: Platform) -> None:
    append(scratch, 30)
    checkpoint(scratch)
    append(scratch, 10, start=100)
    checkpoint(scratch)
    rewrite_history(scratch, 12)
    problems = verify(scratch)
    assert problems == [
        "the tree no longer matches the signed checkpoint of 30 entries: an entry between 0"
        " and 29 was rewritten after it was signed",
        "the tree no longer matches the signed checkpoint of 40 entries: an entry between 0"
        " and 39 was rewritten after it was signed",
    ]


def test_the_sequencer_never_signs_over_a_rewritten_tree(scratch: Platform) -> None:
    append(scratch, 30)
    checkpoint(scratch)
    rewrite_history(scratch, 3, sign=False)
    append(scratch, 1, start=500)
    with pytest.raises(Conflict) as refused:
        checkpoint(scratch)
    assert "history was rewritten, so nothing is signed" in refused.value.message("en")


def test_verify_names_a_forged_checkpoint_and_a_rewritten_node(scratch: Platform) -> None:
    append(scratch, 600)
    checkpoint(scratch)
    forger = Signer.generate(scratch.audit.origin)
    with UnitOfWork(scratch.session_factory) as uow:
        repo = AuditRepository(uow.session)
        state = repo.state()
        forged = sign_checkpoint(Checkpoint(scratch.audit.origin, state.size, state.root), forger)
        repo.add_checkpoint(state.size, state.root, forged.render(), utcnow())
        tile = repo.tiles([(1, 0)])[(1, 0)]
        uow.session.execute(
            update(audit_tiles)
            .where(audit_tiles.c.level == 1, audit_tiles.c.idx == 0)
            .values(hashes=bytes(32) + tile[32:])
        )
        uow.commit()
    problems = verify(scratch)
    assert "stored nodes (tile 0 of level 1) disagree with the level below" in problems[0]
    assert any("signature of the checkpoint of 600 entries does not verify" in p for p in problems)


def test_verify_without_the_servers_key_says_where_it_looked_once(
    scratch: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(scratch, 5)
    checkpoint(scratch)
    append(scratch, 5, start=6)
    checkpoint(scratch)
    monkeypatch.setenv("CIVICGRID_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("CIVICGRID_AUDIT_SIGNING_KEY", raising=False)
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", scratch.settings.database_url])
    assert result.exit_code == 1
    assert "2 个检查点均未使用本命令所持密钥" in result.output
    assert str(tmp_path / "audit_log_key") in result.output
    assert "签名验证失败" not in result.output


def test_the_verify_command_says_what_is_wrong_and_fails(scratch: Platform) -> None:
    append(scratch, 5)
    checkpoint(scratch)
    url = scratch.settings.database_url
    fine = CliRunner().invoke(cli, ["audit", "verify", "--db", url])
    assert fine.exit_code == 0, fine.output
    assert "审计日志完好：已核对 5 条" in fine.output
    with UnitOfWork(scratch.session_factory) as uow:
        uow.session.execute(update(audit_entries).values(fields="name"))
        uow.commit()
    broken = CliRunner().invoke(cli, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    assert "第 0 条被篡改" in broken.output
    assert "最先出问题的条目：第 0 条" in broken.output


# ------------------------------------------------------------------ witnesses


@pytest.fixture
def witness(scratch: Platform, tmp_path: Path) -> Iterator[tuple[Signer, Path]]:
    """Another unit's witness, listed by the platform."""
    key = witness_key(tmp_path / "witness.key", "witness.housing.example")
    listed = scratch.audit.witnesses
    scratch.audit.witnesses = (key.verifier,)
    yield key, tmp_path / "witness.state"
    scratch.audit.witnesses = listed


def test_a_witness_cosigns_what_extends_what_it_saw(
    scratch: Platform, scratch_client: TestClient, witness: tuple[Signer, Path]
) -> None:
    key, state = witness
    log = DatabaseLog(scratch.session_factory, scratch.audit)
    append(scratch, 20)
    checkpoint(scratch)
    first = witness_once(log, key, state)
    assert (first.previous, first.checkpoint.size, first.kept) == (None, 20, [key.name])
    assert first.trusted_on_first_use
    append(scratch, 300, start=100)
    checkpoint(scratch)
    second = witness_once(log, key, state)
    assert (second.previous, second.checkpoint.size) == (20, 320)
    served = parse_note(scratch_client.get("/api/v1/audit/checkpoint").text)
    assert [s.name for s in served.signatures] == [scratch.audit.origin, key.name]
    with UnitOfWork(scratch.session_factory) as uow:
        shown = services.latest_cosigned(uow, ANONYMOUS)
    assert shown is not None and shown.size == 320
    assert [name for name, _ in shown.witnesses] == [key.name]
    assert (state.stat().st_mode & 0o777) == 0o600
    assert ((state.parent / "witness.key").stat().st_mode & 0o777) == 0o600


def test_a_witness_refuses_a_rewritten_history_even_re_signed(
    scratch: Platform, witness: tuple[Signer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, state = witness
    monkeypatch.setenv("CIVICGRID_AUDIT_WITNESSES", key.verifier.vkey)
    append(scratch, 50)
    checkpoint(scratch)
    url = scratch.settings.database_url
    args = ["audit", "witness", "--db", url, "--key", str(state.parent / "witness.key")]
    args += ["--state", str(state)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    append(scratch, 20, start=100)
    checkpoint(scratch)
    rewrite_history(scratch, 30)
    before = state.read_text()
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert "拒绝联署" in refused.output
    assert "从 50 条到 70 条的一致性证明不成立：日志历史被改写" in refused.output
    assert state.read_text() == before


def test_a_witness_refuses_a_replayed_or_forged_checkpoint(
    scratch: Platform, witness: tuple[Signer, Path]
) -> None:
    key, state = witness
    log = DatabaseLog(scratch.session_factory, scratch.audit)
    append(scratch, 10)
    old = checkpoint(scratch).checkpoint
    append(scratch, 10, start=100)
    checkpoint(scratch)
    witness_once(log, key, state)
    assert old is not None
    with UnitOfWork(scratch.session_factory) as uow:  # the old checkpoint served again
        AuditRepository(uow.session).add_checkpoint(old.size, old.root, old.note, utcnow())
        uow.commit()
    with pytest.raises(WitnessRefusal) as replayed:
        witness_once(log, key, state)
    assert "an old checkpoint was replayed" in replayed.value.message("en")
    forger = Signer.generate(scratch.audit.origin)
    with UnitOfWork(scratch.session_factory) as uow:
        state_now = AuditRepository(uow.session).state()
        forged = sign_checkpoint(
            Checkpoint(scratch.audit.origin, state_now.size + 5, bytes(32)), forger
        )
        AuditRepository(uow.session).add_checkpoint(
            state_now.size + 5, bytes(32), forged.render(), utcnow()
        )
        uow.commit()
    with pytest.raises(WitnessRefusal) as refused:
        witness_once(log, key, state)
    assert "the checkpoint cannot be trusted: the checkpoint is not signed by the log" in (
        refused.value.message("en")
    )


def test_cosignatures_are_kept_only_from_listed_witnesses_and_when_they_verify(
    scratch: Platform, scratch_client: TestClient, witness: tuple[Signer, Path]
) -> None:
    key, _ = witness
    append(scratch, 5)
    checkpoint(scratch)
    note = parse_note(scratch_client.get("/api/v1/audit/checkpoint").text)
    stranger = Signer.generate("stranger.example", COSIGNATURE_V1)
    now = int(utcnow().timestamp())

    def post(text: str) -> tuple[int, str]:
        answer = scratch_client.post(
            "/api/v1/audit/cosignatures",
            content=text.encode(),
            headers={"Content-Type": "text/plain", "Accept-Language": "en"},
        )
        body = answer.json()
        return answer.status_code, body.get("error", {}).get("message", "") or str(body)

    unknown = note.with_signatures(stranger.sign(note.text, timestamp=now)).render()
    assert post(unknown) == (
        403,
        "the note has no cosignature of a witness this platform lists (CIVICGRID_AUDIT_WITNESSES)",
    )
    # The listed witness's name and key ID over someone else's signature.
    forged = NoteSignature(key.name, key.verifier.key_id, stranger.sign(note.text, now).payload)
    status, message = post(note.with_signatures(forged).render())
    assert (status, message) == (422, f"the cosignature of witness {key.name} does not verify")
    signed_other = sign_checkpoint(
        Checkpoint(scratch.audit.origin, 5, bytes(32)), scratch.audit.signer()
    )
    never = signed_other.with_signatures(key.sign(signed_other.text, timestamp=now)).render()
    assert post(never)[0] == 404
    assert post("not a note")[0] == 422
    good = note.with_signatures(key.sign(note.text, timestamp=now)).render()
    assert post(good) == (201, str({"kept": [key.name]}))


def test_a_wrong_witness_key_in_the_settings_stops_the_start(scratch: Platform) -> None:
    from civicgrid.core.errors import CivicGridError

    settings = scratch.settings.model_copy(update={"audit_witnesses": "nonsense"})
    with pytest.raises(CivicGridError):
        services.ports_for(settings)
    log_key = Signer.generate("a.example").verifier.vkey  # a log key, not a witness's
    settings = scratch.settings.model_copy(update={"audit_witnesses": log_key})
    with pytest.raises(CivicGridError, match="not a witness cosignature key"):
        services.ports_for(settings)


def test_the_witness_command_needs_a_log(tmp_path: Path) -> None:
    args = ["audit", "witness", "--key", str(tmp_path / "k"), "--state", str(tmp_path / "s")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    unreachable = CliRunner().invoke(cli, [*args, "--url", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 2
    assert "127.0.0.1:9" in unreachable.output


def test_entries_of_any_name_verify_and_the_server_vouches_for_them(scratch: Platform) -> None:
    names = ['a "quoted" key', "back\\slash", "张三丰的系统", "emoji 🙂", "tab\tx", "\x01"]
    with UnitOfWork(scratch.session_factory) as uow:
        for n, name in enumerate(names):
            Ledger(uow.session).append(
                Entry.by(
                    Actor(f"apikey:{name}", Role.API_CLIENT, department_code="990100-MZJ"),
                    Action.VERIFY_QUESTION,
                    dataset="registry.people",
                    record_kind="person",
                    record_ids=[n, n + 2, n + 1],
                    grant=n,
                    reason="answered_yes",
                    personal="110105199001011234",
                )
            )
        uow.commit()
    checkpoint(scratch)
    assert verify(scratch) == []
    if scratch.engine.dialect.name == "postgresql":  # the server rebuilds every leaf exactly
        with scratch.engine.connect() as connection:
            assert suspect_leaves(connection, 0, len(names), services.VERSION_JSON) == []
