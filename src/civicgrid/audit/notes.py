"""Signed notes, checkpoints and cosignatures, as C2SP specifies them, so any tool of the
transparency-log world (Go's golang.org/x/mod/sumdb/note, Tessera, the witnesses of
transparency-dev) reads what the platform signs.

- A *signed note* (c2sp.org/signed-note) is a text ending in a newline, a blank line, and
  one line per signature: "— <key name> <base64(4-byte key ID || signature)>". The key ID
  is SHA-256(name || 0x0A || type || public key)[:4].
- A *checkpoint* (c2sp.org/tlog-checkpoint) is the note text "<origin>\\n<size>\\n<base64
  root hash>\\n" (extension lines may follow), signed by the log with Ed25519 (type 0x01).
- A *cosignature* (c2sp.org/tlog-cosignature, cosignature/v1) is a witness's signature
  line on the same note: type 0x04, the signature over "cosignature/v1\\ntime <seconds>\\n"
  followed by the checkpoint text, and the time (8 bytes, big-endian) between the key ID
  and the signature.
- Keys are written as Go's note package writes them: a verifier key
  "<name>+<key ID hex>+<base64(type || public key)>", a signer key
  "PRIVATE+KEY+<name>+<key ID hex>+<base64(type || Ed25519 seed)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from civicgrid.audit.merkle import HASH_SIZE
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import N_

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_TYPES = (ED25519, COSIGNATURE_V1)
DASH = "\u2014"  # the em dash that starts a signature line
MAX_SIGNATURES = 32
MAX_NOTE_BYTES = 64 * 1024
# Key names and origins: no spaces, no plus (c2sp.org/signed-note), printable.
_KEY_NAME = re.compile(r"[^\s+\x00-\x1f\x7f]{1,200}")


class NoteError(InvalidInput):
    """A note, checkpoint or key that cannot be read; the message says what is wrong."""


def key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def check_key_name(name: str) -> str:
    if not _KEY_NAME.fullmatch(name):
        raise NoteError(N_("audit_key_name_invalid"), name=name[:200])
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError(N_("audit_base64_invalid"), what=what) from exc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures of one kind (0x01 a log's, 0x04 a witness's)."""

    name: str
    kind: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.kind, self.public)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.kind]) + self.public)}"

    def signed(self, signature: NoteSignature) -> bool:
        """Whether SIGNATURE was made by this key (same name and key ID)."""
        return signature.name == self.name and signature.key_id == self.key_id

    def verifies(self, text: str, signature: NoteSignature) -> bool:
        """Whether SIGNATURE, made by this key, is valid over the note text TEXT."""
        if not self.signed(signature):
            return False
        message = text.encode()
        payload = signature.payload
        if self.kind == COSIGNATURE_V1:
            if len(payload) != 8 + 64:
                return False
            message = cosigned_message(text, int.from_bytes(payload[:8], "big"))
            payload = payload[8:]
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(payload, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key: the log's (0x01) or a witness's (0x04)."""

    name: str
    kind: int
    seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, name: str, kind: int = ED25519) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(check_key_name(name), kind, seed)

    @property
    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.kind, public)

    @property
    def skey(self) -> str:
        verifier = self.verifier
        encoded = b64(bytes([self.kind]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{verifier.key_id.hex()}+{encoded}"

    def sign(self, text: str, timestamp: int | None = None) -> NoteSignature:
        """The signature line over the note text TEXT (a cosignature at TIMESTAMP, seconds
        since the epoch, for a witness key)."""
        if self.kind == COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp < 2**63:
                raise ValueError("a cosignature needs its time")
            signature = self._key.sign(cosigned_message(text, timestamp))
            payload = timestamp.to_bytes(8, "big") + signature
        else:
            payload = self._key.sign(text.encode())
        return NoteSignature(self.name, self.verifier.key_id, payload)


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def parse_vkey(text: str) -> Verifier:
    """A verifier key "<name>+<hex key ID>+<base64(type || key)>"."""
    parts = text.strip().split("+", 2)  # the base64 may hold a "+" itself
    if len(parts) != 3:
        raise NoteError(N_("audit_vkey_invalid"), key=text.strip()[:300])
    name, hex_id, encoded = parts
    check_key_name(name)
    data = _b64decode(encoded, "key")
    if len(data) != 33 or data[0] not in SIGNATURE_TYPES:
        raise NoteError(N_("audit_vkey_invalid"), key=text.strip()[:300])
    verifier = Verifier(name, data[0], data[1:])
    if verifier.key_id.hex() != hex_id.lower():
        raise NoteError(N_("audit_vkey_invalid"), key=text.strip()[:300])
    return verifier


def parse_skey(text: str) -> Signer:
    """A signer key "PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>"."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError(N_("audit_skey_invalid"))
    name, hex_id, encoded = parts[2:]
    check_key_name(name)
    data = _b64decode(encoded, "key")
    if len(data) != 33 or data[0] not in SIGNATURE_TYPES:
        raise NoteError(N_("audit_skey_invalid"))
    signer = Signer(name, data[0], data[1:])
    if signer.verifier.key_id.hex() != hex_id.lower():
        raise NoteError(N_("audit_skey_invalid"))
    return signer


# ------------------------------------------------------------------ notes


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    payload: bytes  # the signature (a cosignature's time first)

    @property
    def line(self) -> str:
        return f"{DASH} {self.name} {b64(self.key_id + self.payload)}\n"

    @property
    def timestamp(self) -> int | None:
        """A cosignature's time (seconds since the epoch)."""
        return int.from_bytes(self.payload[:8], "big") if len(self.payload) == 72 else None


@dataclass(frozen=True)
class Note:
    text: str  # ends with a newline
    signatures: tuple[NoteSignature, ...] = ()

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)

    def with_signatures(self, *added: NoteSignature) -> Note:
        known = {(s.name, s.key_id) for s in added}
        kept = tuple(s for s in self.signatures if (s.name, s.key_id) not in known)
        return Note(self.text, kept + added)


def parse_note(data: str) -> Note:
    """A signed note: its text and its signature lines (not yet checked)."""
    if len(data.encode()) > MAX_NOTE_BYTES:
        raise NoteError(N_("audit_note_too_long"), max=MAX_NOTE_BYTES)
    if any(ch < " " and ch != "\n" for ch in data) or "\x7f" in data:
        raise NoteError(N_("audit_note_control_characters"))
    if not data.endswith("\n"):
        raise NoteError(N_("audit_note_malformed"))
    split = data.rfind("\n\n")
    if split < 0:
        raise NoteError(N_("audit_note_malformed"))
    text, lines = data[: split + 1], data[split + 2 :].splitlines()
    if not lines:
        raise NoteError(N_("audit_note_unsigned"))
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(N_("audit_note_too_many_signatures"), max=MAX_SIGNATURES)
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(N_("audit_signature_line_invalid"), line=line[:200])
        name = check_key_name(parts[1])
        raw = _b64decode(parts[2], "signature")
        if len(raw) < 5:
            raise NoteError(N_("audit_signature_line_invalid"), line=line[:200])
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


# ------------------------------------------------------------------ checkpoints


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note's text states: origin, size, root hash, extension lines."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError(N_("audit_checkpoint_malformed"))
    origin, size_text, root_text, *extensions = lines[:-1]
    if not _KEY_NAME.fullmatch(origin):
        raise NoteError(N_("audit_checkpoint_malformed"))
    if not size_text.isascii() or not size_text.isdigit() or size_text != str(int(size_text)):
        raise NoteError(N_("audit_checkpoint_size_invalid"), size=size_text[:40])
    root = _b64decode(root_text, "root")
    if len(root) != HASH_SIZE:
        raise NoteError(N_("audit_checkpoint_root_invalid"))
    if any(not line for line in extensions):
        raise NoteError(N_("audit_checkpoint_malformed"))
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> Note:
    return Note(checkpoint.text, (signer.sign(checkpoint.text),))


def open_checkpoint(data: str, log: Verifier) -> tuple[Checkpoint, Note]:
    """The checkpoint in the signed note DATA once LOG's signature on it verifies; a
    NoteError naming what is wrong otherwise (not signed by LOG, a forged signature, an
    origin other than the key's name)."""
    note = parse_note(data)
    mine = [s for s in note.signatures if log.signed(s)]
    if not mine:
        raise NoteError(N_("audit_checkpoint_not_signed_by_log"), key=log.name)
    if not all(log.verifies(note.text, s) for s in mine):
        raise NoteError(N_("audit_checkpoint_signature_invalid"), key=log.name)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != log.name:
        raise NoteError(
            N_("audit_checkpoint_origin_mismatch"), origin=checkpoint.origin, key=log.name
        )
    return checkpoint, note
