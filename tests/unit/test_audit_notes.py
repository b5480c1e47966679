"""Checkpoints as C2SP signed notes: what the platform writes it reads back, a signature line
per signer, keys in Go's note format, and every forgery refused with its reason."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from civicgrid.audit.notes import (
    COSIGNATURE_V1,
    DASH,
    ED25519,
    Checkpoint,
    Note,
    NoteError,
    Signer,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_checkpoint,
)

ORIGIN = "gov.example.cn/civicgrid/audit"
ROOT = hashlib.sha256(b"a root").digest()


def test_a_checkpoint_is_three_lines_a_blank_line_and_the_logs_signature() -> None:
    log = Signer.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 1234, ROOT), log).render()
    body, signatures = note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "1234", base64.b64encode(ROOT).decode()]
    (line,) = signatures.splitlines()
    dash, name, encoded = line.split(" ")
    assert (dash, name) == (DASH, ORIGIN)
    raw = base64.b64decode(encoded)
    # The key ID is SHA-256(name || 0x0A || 0x01 || public key)[:4]; the rest an Ed25519
    # signature over the text, checked here with the library directly.
    public = log.verifier.public
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], (body + "\n").encode())


def test_what_is_written_reads_back_with_a_signature_line_per_signer() -> None:
    log = Signer.generate(ORIGIN)
    witnesses = [Signer.generate(f"witness-{n}.example", COSIGNATURE_V1) for n in range(3)]
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT, ("extension line",)), log)
    for n, witness in enumerate(witnesses):
        note = note.with_signatures(witness.sign(note.text, timestamp=1_700_000_000 + n))
    text = note.render()
    again = parse_note(text)
    assert again == note and again.render() == text
    assert [s.name for s in again.signatures] == [ORIGIN] + [w.name for w in witnesses]
    checkpoint, _ = open_checkpoint(text, log.verifier)
    assert checkpoint == Checkpoint(ORIGIN, 7, ROOT, ("extension line",))
    for n, witness in enumerate(witnesses):
        signature = again.signatures[n + 1]
        assert witness.verifier.verifies(again.text, signature)
        assert signature.timestamp == 1_700_000_000 + n
        assert not witnesses[(n + 1) % 3].verifier.verifies(again.text, signature)


def test_a_cosignature_signs_the_c2sp_cosignature_v1_message() -> None:
    witness = Signer.generate("w.example", COSIGNATURE_V1)
    text = Checkpoint(ORIGIN, 9, ROOT).text
    signature = witness.sign(text, timestamp=1679315147)
    raw = signature.payload
    assert int.from_bytes(raw[:8], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(witness.verifier.public).verify(raw[8:], message)
    public = witness.verifier.public
    assert signature.key_id == hashlib.sha256(b"w.example\n\x04" + public).digest()[:4]


def test_keys_round_trip_in_gos_note_format() -> None:
    for kind in (ED25519, COSIGNATURE_V1):
        signer = Signer.generate("some.example/log", kind)
        assert parse_skey(signer.skey) == signer
        assert parse_vkey(signer.verifier.vkey) == signer.verifier
        name, key_id, encoded = signer.verifier.vkey.split("+", 2)
        assert (name, bytes.fromhex(key_id)) == ("some.example/log", signer.verifier.key_id)
        assert base64.b64decode(encoded)[0] == kind
    assert signer.skey.startswith("PRIVATE+KEY+some.example/log+")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PRIVATE+KEY+x", "audit_skey_invalid"),
        ("name+00000000+AQ==", "audit_vkey_invalid"),
        ("has space+00000000+AQ==", "audit_key_name_invalid"),
        ("name+00000000+!!!", "audit_base64_invalid"),
    ],
)
def test_broken_keys_are_refused_naming_why(text: str, reason: str) -> None:
    with pytest.raises(NoteError) as refused:
        (parse_skey if text.startswith("PRIVATE") else parse_vkey)(text)
    assert refused.value.message_key == reason


def test_a_key_whose_id_does_not_match_is_refused() -> None:
    verifier = Signer.generate("a.example").verifier
    name, _, encoded = verifier.vkey.split("+", 2)
    with pytest.raises(NoteError):
        parse_vkey(f"{name}+deadbeef+{encoded}")


def forge(text: str) -> str:
    """TEXT with the checkpoint's size changed and the log's signature kept."""
    note = parse_note(text)
    lines = note.text.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    return Note("\n".join(lines), note.signatures).render()


def test_forged_checkpoints_are_refused_naming_why() -> None:
    log, other = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    good = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), log).render()
    cases = {
        forge(good): "audit_checkpoint_signature_invalid",
        sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), other).render(): (
            "audit_checkpoint_not_signed_by_log"
        ),
        good.replace("\n\n", "\n"): "audit_note_malformed",
        good.split("\n\n")[0] + "\n\n": "audit_note_unsigned",
        good + "not a signature\n": "audit_signature_line_invalid",
        "x\n\u0007\n\n" + good.split("\n\n")[1]: "audit_note_control_characters",
    }
    for text, reason in cases.items():
        with pytest.raises(NoteError) as refused:
            open_checkpoint(text, log.verifier)
        assert refused.value.message_key == reason, text


def test_a_checkpoint_of_another_log_signed_by_a_key_of_that_name_is_refused() -> None:
    log = Signer.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint("evil.example/audit", 5, ROOT), log).render()
    with pytest.raises(NoteError) as refused:
        open_checkpoint(note, log.verifier)
    assert refused.value.message_key == "audit_checkpoint_origin_mismatch"


def test_checkpoint_lines_are_checked() -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(f"{ORIGIN}\n5\nAAAA\n")  # not 32 bytes
    with pytest.raises(NoteError):
        parse_checkpoint(f"{ORIGIN}\n5\n")
    with pytest.raises(NoteError) as refused:
        parse_checkpoint(Checkpoint(ORIGIN, 5, ROOT).text.replace("\n5\n", "\n05\n"))
    assert refused.value.message_key == "audit_checkpoint_size_invalid"
    assert parse_checkpoint(Checkpoint(ORIGIN, 0, ROOT).text).size == 0
