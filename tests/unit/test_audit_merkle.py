"""The audit log's Merkle tree is RFC 6962's: the published test vectors, and every proof the
tiles give checked by a verifier written here from the RFC's definitions (not the one the
platform ships), for every shape of tree up to a few tiles."""

from __future__ import annotations

import hashlib
import random

import pytest

from civicgrid.audit.merkle import (
    EMPTY_ROOT,
    TILE_WIDTH,
    Tiles,
    expected_width,
    extend,
    right_edge,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference leaves and tree heads (RFC 6962's test data).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


# ------------------------------------------------------------------ the reference, from the RFC


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1: MTH(D[n]) over the leaves' data, recursively."""
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def root_from_path(index: int, leaf: bytes, size: int, path: list[bytes]) -> bytes | None:
    """The root a PATH(m, D[n]) proves for the leaf hash LEAF: the RFC's definition of
    PATH read backwards (the last element is the sibling of the top split), so nothing
    is shared with the platform's own verifier."""
    if size == 1:
        return leaf if not path else None
    if not path:
        return None
    k = 1
    while k * 2 < size:
        k *= 2
    *rest, top = path
    if index < k:
        left = root_from_path(index, leaf, k, rest)
        return None if left is None else h(b"\x01" + left + top)
    right = root_from_path(index - k, leaf, size - k, rest)
    return None if right is None else h(b"\x01" + top + right)


def subproof_roots(
    m: int, size: int, proof: list[bytes], whole: bool, old_root: bytes | None
) -> tuple[bytes, bytes] | None:
    """(the old tree's root, the new tree's root) that SUBPROOF(m, D[n], b) proves, the RFC's
    2.1.2 definition read backwards."""
    if m == size:
        if whole:
            return (old_root, old_root) if not proof and old_root is not None else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = 1
    while k * 2 < size:
        k *= 2
    *rest, top = proof
    if m <= k:
        inner = subproof_roots(m, k, rest, whole, old_root)
        if inner is None:
            return None
        old, new = inner
        return old, h(b"\x01" + new + top)
    inner = subproof_roots(m - k, size - k, rest, False, old_root)
    if inner is None:
        return None
    old, new = inner
    return h(b"\x01" + top + old), h(b"\x01" + top + new)


def consistent(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if old == new:
        return not proof and old_root == new_root
    found = subproof_roots(old, new, proof, True, old_root)
    return found == (old_root, new_root)


# ------------------------------------------------------------------ the tests


def tiles_of(data: list[bytes]) -> Tiles:
    return Tiles(extend(0, [h(b"\x00" + d) for d in data], {}))


def test_the_empty_tree_and_every_published_root() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    tiles = tiles_of(LEAVES)
    assert tiles.root(0) == EMPTY_ROOT
    for size, root in enumerate(ROOTS, start=1):
        assert tiles.root(size).hex() == root
        assert mth(LEAVES[:size]).hex() == root


def test_the_published_inclusion_and_consistency_proofs() -> None:
    tiles = tiles_of(LEAVES)
    for (index, size), proof in INCLUSION.items():
        assert [p.hex() for p in tiles.inclusion_proof(index, size)] == proof
    for (old, new), proof in CONSISTENCY.items():
        assert [p.hex() for p in tiles.consistency_proof(old, new)] == proof


def hand_computed_tree() -> tuple[list[bytes], bytes]:
    """Five leaves, by hand: ((a b)(c d)) e."""
    a, b, c, d, e = (h(b"\x00" + bytes([i])) for i in range(5))
    ab, cd = h(b"\x01" + a + b), h(b"\x01" + c + d)
    return [a, b, c, d, e], h(b"\x01" + h(b"\x01" + ab + cd) + e)


def test_a_tree_of_five_leaves_computed_by_hand() -> None:
    leaves, root = hand_computed_tree()
    a, b, c, d, e = leaves
    tiles = Tiles(extend(0, leaves, {}))
    assert tiles.root(5) == root
    assert tiles.inclusion_proof(2, 5) == [d, h(b"\x01" + a + b), e]
    assert tiles.inclusion_proof(4, 5) == [h(b"\x01" + h(b"\x01" + a + b) + h(b"\x01" + c + d))]
    assert tiles.consistency_proof(3, 5) == [c, d, h(b"\x01" + a + b), e]


def random_leaves(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [h(b"\x00" + rng.randbytes(rng.randrange(1, 40))) for _ in range(count)]


@pytest.mark.parametrize("size", [*range(1, 70), 255, 256, 257, 511, 512, 513, 1000])
def test_every_inclusion_proof_verifies_with_the_rfc_and_the_platform(size: int) -> None:
    leaves = random_leaves(size)
    tiles = Tiles(extend(0, leaves, {}))
    root = tiles.root(size)
    for index in range(size) if size < 70 else random.Random(size).sample(range(size), 40):
        proof = tiles.inclusion_proof(index, size)
        assert root_from_path(index, leaves[index], size, proof) == root
        assert verify_inclusion(leaves[index], index, size, proof, root)
        # …and nothing else does: another leaf, a place beyond the tree, a tampered proof.
        assert not verify_inclusion(leaves[index - 1], index, size, proof, root) or size == 1
        assert not verify_inclusion(leaves[index], size, size, proof, root)
        if proof:
            bad = [*proof[:-1], bytes(32)]
            assert not verify_inclusion(leaves[index], index, size, bad, root)
            assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)
        assert not verify_inclusion(leaves[index], index, size, [*proof, bytes(32)], root)


@pytest.mark.parametrize("new", [*range(1, 40), 256, 300, 600])
def test_every_consistency_proof_verifies_with_the_rfc_and_the_platform(new: int) -> None:
    leaves = random_leaves(new, seed=new)
    tiles = Tiles(extend(0, leaves, {}))
    for old in range(0, new + 1) if new < 40 else random.Random(new).sample(range(new + 1), 30):
        proof = tiles.consistency_proof(old, new)
        old_root, new_root = tiles.root(old), tiles.root(new)
        assert verify_consistency(old, new, old_root, new_root, proof)
        if old:
            assert consistent(old, new, old_root, new_root, proof)
        if 0 < old < new:
            forked = tiles.root(old - 1) if old > 1 else bytes(32)
            assert not verify_consistency(old, new, forked, new_root, proof)
            assert not verify_consistency(old, new, old_root, bytes(32), proof)
            assert not verify_consistency(new, old, new_root, old_root, proof)
            assert not verify_consistency(old, new, old_root, new_root, proof[:-1])


def test_tiles_grown_a_little_at_a_time_are_the_tiles_of_the_whole() -> None:
    leaves = random_leaves(3 * TILE_WIDTH * TILE_WIDTH // 64 + 17, seed=5)
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    rng = random.Random(9)
    while size < len(leaves):
        step = min(rng.choice([1, 2, 3, 255, 256, 257, 700]), len(leaves) - size)
        partial = {key: stored[key] for key in right_edge(size)}
        stored.update(extend(size, leaves[size : size + step], partial))
        size += step
    whole = extend(0, leaves, {})
    assert stored == whole
    for key, data in stored.items():
        assert len(data) == expected_width(key, size) * 32
    tiles = Tiles(stored)
    for probe in (1, 255, 256, 257, 65535, 65536, size):
        if probe <= size:
            assert tiles.root(probe) == mth_of_hashes(leaves[:probe])


def mth_of_hashes(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return h(b"\x01" + mth_of_hashes(hashes[:k]) + mth_of_hashes(hashes[k:]))


def test_a_proof_reads_a_tile_per_level() -> None:
    """What makes a proof cheap at any size: four tiles at 10 million leaves."""
    from civicgrid.audit.merkle import inclusion_ranges, tiles_for

    size = 10_000_000
    index = 4_321_987
    keys = tiles_for([*inclusion_ranges(index, size), (0, size)])
    assert len({k for k in keys if k[0] == 0}) <= 2
    assert len(keys) <= 8
