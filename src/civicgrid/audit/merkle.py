"""RFC 6962 / RFC 9162 Merkle trees over the audit log, kept as tiles.

Hashes: a leaf is SHA-256(0x00 || leaf), an inner node SHA-256(0x01 || left || right), the
empty tree SHA-256(""). A tree of n leaves splits at the largest power of two below n.

Stored nodes are tiles, as C2SP tlog-tiles and Tessera keep them: tile (L, N) holds the
hashes of the nodes at height 8·L numbered N·256 … N·256+255 (height 0: the leaf hashes),
32 bytes each, only for subtrees that are complete. A tile is rewritten while it fills and
never after it is full; the right-most tile of each level may be partial. Every other node
of a complete subtree is computed from the at most 256 hashes of one tile below it (≤ 255
hashes), and a node of an incomplete subtree (the right edge of a tree of any size) from
the complete subtrees that cover it. So an inclusion proof at 10 million leaves reads four
tiles, about 30 KB, whatever the tree's size, and appending m leaves rewrites
m/256 + log₂₅₆(n) tiles.

Everything here is plain computation: the sequencer (services) reads and writes the tiles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
TILE_BYTES = TILE_WIDTH * HASH_SIZE
EMPTY_ROOT = hashlib.sha256(b"").digest()

TileKey = tuple[int, int]  # (tile level, tile index)
Range = tuple[int, int]  # leaves [start, end)
Node = tuple[int, int]  # (height, index): the complete subtree of leaves [index·2^h, (index+1)·2^h)

_sha256 = hashlib.sha256


def hash_leaf(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two below N (N ≥ 2): where RFC 6962 splits a tree of N leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up MTH(D[start:end]), left to right: the binary
    digits of its length, largest first. START must be aligned to the largest (as every
    range of a proof is)."""
    nodes = []
    length = end - start
    position = start
    for height in range(length.bit_length() - 1, -1, -1):
        size = 1 << height
        if length & size:
            if position % size:
                raise ValueError(f"range [{start}, {end}) is not aligned")
            nodes.append((height, position >> height))
            position += size
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its complete subtrees, left to right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = hash_children(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTH make up PATH(index, D[0:size]) (RFC 9162 2.1.3.1), the leaf's
    sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not below the tree size {size}")
    path: list[Range] = []
    low, high = 0, size
    while high - low > 1:
        k = split_point(high - low)
        if index < low + k:
            path.append((low + k, high))
            high = low + k
        else:
            path.append((low, low + k))
            low += k
    path.reverse()
    return path


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The ranges whose MTH make up PROOF(old, D[0:new]) (RFC 9162 2.1.4.1)."""
    if not 0 <= old <= new:
        raise ValueError(f"sizes {old} and {new} are not in order")
    if old in (0, new):
        return []
    proof: list[Range] = []
    low, high, m, whole = 0, new, old, True
    while True:
        n = high - low
        if m == n:
            if not whole:
                proof.append((low, high))
            break
        k = split_point(n)
        if m <= k:
            proof.append((low + k, high))
            high = low + k
        else:
            proof.append((low, low + k))
            low += k
            m -= k
            whole = False
    proof.reverse()
    return proof


def tile_of(node: Node) -> TileKey:
    """The tile that holds NODE or the hashes it is computed from."""
    height, index = node
    level, within = divmod(height, TILE_HEIGHT)
    return level, (index << within) >> TILE_HEIGHT


def tiles_for(ranges: Iterable[Range]) -> set[TileKey]:
    return {tile_of(node) for start, end in ranges for node in subtrees(start, end)}


class MissingNode(LookupError):
    """A node the stored tiles do not hold (the tree is smaller than asked, or a tile was
    removed)."""


class Tiles:
    """The nodes of the tree, read from the tiles in TILES (a mapping of TileKey to the
    concatenated hashes). Each tile's inner levels are computed once, when first needed."""

    def __init__(self, tiles: Mapping[TileKey, bytes]) -> None:
        self._tiles = tiles
        self._levels: dict[TileKey, list[list[bytes]]] = {}

    def node(self, node: Node) -> bytes:
        height, index = node
        level, within = divmod(height, TILE_HEIGHT)
        key = (level, (index << within) >> TILE_HEIGHT)
        levels = self._levels.get(key)
        if levels is None:
            data = self._tiles.get(key)
            if data is None:
                raise MissingNode(f"tile {key} is missing")
            levels = self._levels[key] = tile_levels(data)
        row = levels[within] if within < len(levels) else []
        position = index - (key[1] << (TILE_HEIGHT - within))
        if position >= len(row):
            raise MissingNode(f"node {node} is not complete in tile {key}")
        return row[position]

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        if start == end:
            return EMPTY_ROOT
        return fold([self.node(n) for n in subtrees(start, end)])

    def root(self, size: int) -> bytes:
        return self.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return [self.range_hash(a, b) for a, b in inclusion_ranges(index, size)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return [self.range_hash(a, b) for a, b in consistency_ranges(old, new)]


@lru_cache(maxsize=1024)
def tile_levels(data: bytes) -> list[list[bytes]]:
    """A tile's hashes and the complete inner levels above them (at most 9 rows). Kept for
    the tiles asked for again (the upper tiles every proof reads): what a tile's bytes give
    never changes, whichever tree they came from. The rows are not to be changed."""
    row = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
    levels = [row]
    for _ in range(TILE_HEIGHT):
        row = [hash_children(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        if not row:
            break
        levels.append(row)
    return levels


def tile_root(data: bytes) -> bytes:
    """The root of a full tile: the node it gives the tile level above."""
    row = [data[i : i + HASH_SIZE] for i in range(0, TILE_BYTES, HASH_SIZE)]
    while len(row) > 1:
        row = [_sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def right_edge(size: int) -> list[TileKey]:
    """The partial tiles of a tree of SIZE leaves (those a new leaf is added to)."""
    keys = []
    level, count = 0, size
    while count:
        if count % TILE_WIDTH:
            keys.append((level, count // TILE_WIDTH))
        level, count = level + 1, count // TILE_WIDTH
    return keys


def extend(
    size: int, leaf_hashes: Sequence[bytes], partial: Mapping[TileKey, bytes]
) -> dict[TileKey, bytes]:
    """The tiles that change when LEAF_HASHES are appended to a tree of SIZE leaves whose
    partial tiles are PARTIAL (right_edge(size)): each new or rewritten tile, whole."""
    changed: dict[TileKey, bytes] = {}
    level, first = 0, size  # FIRST: how many nodes this tile level holds already
    nodes = b"".join(leaf_hashes)
    while nodes:
        tile_index, filled = divmod(first, TILE_WIDTH)
        held = partial.get((level, tile_index), b"") if filled else b""
        if len(held) != filled * HASH_SIZE:
            raise MissingNode(f"tile {(level, tile_index)} holds {len(held) // HASH_SIZE} hashes")
        data = held + nodes
        roots = []
        for k, offset in enumerate(range(0, len(data), TILE_BYTES)):
            chunk = data[offset : offset + TILE_BYTES]
            changed[(level, tile_index + k)] = chunk
            if len(chunk) == TILE_BYTES:
                roots.append(tile_root(chunk))
        nodes = b"".join(roots)
        level, first = level + 1, tile_index
    return changed


def expected_width(key: TileKey, size: int) -> int:
    """How many hashes tile KEY holds in a tree of SIZE leaves (0: it should not exist)."""
    level, index = key
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


# ------------------------------------------------------------------ checking proofs


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether PROOF shows the leaf hash LEAF at INDEX of the tree of
    SIZE leaves whose root is ROOT."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, result = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = hash_children(p, result)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = hash_children(result, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether PROOF shows the tree of OLD leaves with OLD_ROOT to be the
    beginning of the tree of NEW leaves with NEW_ROOT."""
    if not 0 <= old <= new or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    path = list(proof)
    if not path:
        return False
    if old & (old - 1) == 0:  # a power of two: the old tree is a node of the new one
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first_result = hash_children(c, first_result)
            second_result = hash_children(c, second_result)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            second_result = hash_children(second_result, c)
        fn >>= 1
        sn >>= 1
    return first_result == old_root and second_result == new_root and sn == 0


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of LEAF_HASHES, computed directly (for small trees and checks)."""
    return Tiles(_as_tiles(leaf_hashes)).root(len(leaf_hashes))


def _as_tiles(leaf_hashes: Sequence[bytes]) -> dict[TileKey, bytes]:
    return extend(0, leaf_hashes, {})
