"""An entry's leaf is exactly the JSON array the README promises, whichever way it is built:
from the entry when it is appended, from its row when `audit verify` rebuilds it."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from civicgrid.core.ledger import (
    LEAF_VERSION,
    Action,
    Entry,
    InvalidEntry,
    leaf_bytes,
    leaf_of_row,
)
from civicgrid.core.permissions import Actor, Role

NAMES = [
    "gw.990101001",
    'a "quoted" name',
    "back\\slash",
    "张三丰",
    "emoji 🙂",
    "tab\there",
    "\x01",
]


def reference(values: list[object]) -> bytes:
    """What the README says a leaf is."""
    return json.dumps([LEAF_VERSION, *values], ensure_ascii=False, separators=(",", ":")).encode()


def test_a_leaf_is_the_json_array_whichever_way_it_is_built() -> None:
    rng = random.Random(4)
    for _ in range(500):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**13))
        ids = [rng.randrange(1, 10**9) for _ in range(rng.randrange(0, 4))]
        fields = rng.sample(["name", "phone:masked", "reporter.email", "id_masked"], 2)
        values = [
            rng.choice(list(Action)).value,
            rng.choice(NAMES),
            rng.choice([None, "data_admin"]),
            rng.choice([None, "990100-SJGLJ"]),
            rng.choice([None, "registry.people"]),
            "person" if ids else None,
            ids,
            rng.choice([None, len(ids), 10**12]),
            fields,
            rng.choice([None, 7]),
            rng.choice([None, "grant_expired"]),
            rng.choice([None, bytes(range(32))]),
        ]
        built = leaf_bytes(at, *values[:6], ids, values[7], fields, *values[9:])  # type: ignore[arg-type]
        shown = [at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), *values]
        if values[-1] is not None:
            shown[-1] = base64.b64encode(values[-1]).decode()  # type: ignore[arg-type]
        assert built == reference(shown)
        row = leaf_of_row(
            at.astimezone(timezone(timedelta(hours=8))),  # any zone: the leaf is UTC
            *values[:6],  # type: ignore[arg-type]
            ",".join(str(i) for i in ids) or None,
            values[7],  # type: ignore[arg-type]
            ",".join(fields),
            *values[9:],  # type: ignore[arg-type]
        )
        assert row == built


def test_a_name_that_could_carry_a_sentence_is_refused() -> None:
    actor = Actor("gw.1", Role.GRID_WORKER)
    with pytest.raises(InvalidEntry):
        Entry.by(
            actor,
            Action.PERSONAL_READ,
            record_kind="person",
            record_ids=[1],
            fields=("张三 的电话",),
        )
    with pytest.raises(InvalidEntry):
        Entry.by(actor, Action.PERSONAL_READ, record_ids=[1])  # records of no kind
    with pytest.raises(InvalidEntry):
        Entry.by(actor, Action.READ_REFUSED, reason="她的身份证号是 110105…")
