"""The Merkle tree of `ledger/merkle.py` against RFC 9162 written out naively, list by list."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, as written: over the leaf *inputs*."""
    n = len(leaves)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return H(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n])."""

    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return sub(m, d[:k], b) + [mth(d[k:])]
        return sub(m - k, d[k:], False) + [mth(d[:k])]

    return sub(m, leaves, True)


def inputs(n: int) -> list[bytes]:
    return [merkle.leaf_input(H(bytes([i % 256, i // 256])).hex(), i) for i in range(n)]


class Stored:
    """A tree kept as `Store` keeps it: every node by position, appended page by page."""

    def __init__(self) -> None:
        self.nodes: dict[int, bytes] = {}
        self.size = 0

    def append(self, leaves: list[bytes]) -> None:
        edge = [self.nodes[merkle.position(*node)] for node in merkle.frontier(self.size)]
        hashes = [merkle.leaf_hash(x) for x in leaves]
        made, after = merkle.grow(self.size, edge, hashes)
        for pos, digest in made:
            assert pos not in self.nodes and pos == len(self.nodes)
            self.nodes[pos] = digest
        self.size += len(leaves)
        assert after == [self.nodes[merkle.position(*n)] for n in merkle.frontier(self.size)]

    def get(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        parts = {node: self.nodes[merkle.position(*node)] for node in merkle.needed(ranges)}
        return [merkle.range_hash(a, b, parts) for a, b in ranges]

    def root(self) -> bytes:
        edge = [self.nodes[merkle.position(*node)] for node in merkle.frontier(self.size)]
        return merkle.root_of(self.size, edge)


def stored(leaves: list[bytes], pages: list[int]) -> Stored:
    tree = Stored()
    start = 0
    for page in [*pages, len(leaves)]:
        end = min(len(leaves), start + page)
        tree.append(leaves[start:end])
        start = end
    return tree


def test_known_sizes_match_the_rfc_tree() -> None:
    leaves = inputs(40)
    for n in range(41):
        tree = stored(leaves[:n], [3, 1, 7])
        assert tree.root() == mth(leaves[:n]), n
        assert len(tree.nodes) == merkle.node_count(n)
        assert merkle.size_of(merkle.node_count(n)) == n
        for m in range(n):
            assert tree.get(merkle.inclusion_ranges(m, n)) == path(m, leaves[:n]), (m, n)
        for m in range(1, n + 1):
            assert tree.get(merkle.consistency_ranges(m, n)) == proof(m, leaves[:n]), (m, n)


def test_the_empty_tree_and_impossible_counts() -> None:
    assert merkle.root_of(0, []) == H(b"")
    assert merkle.size_of(0) == 0
    assert merkle.size_of(2) is None  # 1 leaf is 1 node, 2 leaves are 3
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 3)


def test_positions_are_the_order_of_creation() -> None:
    seen: dict[tuple[int, int], int] = {}
    tree = Stored()
    for n in range(1, 70):
        tree.append(inputs(n)[-1:])
        for level in range(7):
            for index in range(n >> level):
                seen.setdefault((level, index), len(seen))
    # every node, created in the order leaves complete it, has the position `position` says
    order = sorted(seen, key=lambda node: ((node[1] + 1) << node[0], node[0]))
    assert [merkle.position(*node) for node in order] == list(range(len(order)))


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=300),
    data=st.data(),
    pages=st.lists(st.integers(min_value=1, max_value=40), max_size=8),
)
def test_proofs_match_the_naive_rfc_and_verify(
    n: int, data: st.DataObject, pages: list[int]
) -> None:
    leaves = inputs(n)
    tree = stored(leaves, pages)
    root = mth(leaves)
    assert tree.root() == root
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    inclusion = tree.get(merkle.inclusion_ranges(m, n))
    assert inclusion == path(m, leaves)
    leaf = merkle.leaf_hash(leaves[m])
    assert merkle.verify_inclusion(m, n, leaf, inclusion, root)
    # another leaf, another index or a changed hash: refused (the size is the tree head's)
    other = merkle.leaf_hash(leaves[m] + b"x")
    assert not merkle.verify_inclusion(m, n, other, inclusion, root)
    if n > 1:
        assert not merkle.verify_inclusion((m + 1) % n, n, leaf, inclusion, root)
    if inclusion:
        bent = [*inclusion]
        bent[0] = H(bent[0])
        assert not merkle.verify_inclusion(m, n, leaf, bent, root)

    first = data.draw(st.integers(min_value=1, max_value=n))
    consistency = tree.get(merkle.consistency_ranges(first, n))
    assert consistency == proof(first, leaves)
    old = mth(leaves[:first])
    assert merkle.verify_consistency(first, n, old, root, consistency)
    # a rewritten history: the same sizes, one leaf of the first tree changed
    changed = data.draw(st.integers(min_value=0, max_value=first - 1))
    forged = [*leaves]
    forged[changed] = forged[changed] + b"!"
    forged_tree = stored(forged, pages)
    forged_proof = forged_tree.get(merkle.consistency_ranges(first, n))
    assert not merkle.verify_consistency(first, n, old, forged_tree.root(), forged_proof)
    if first < n:
        # a truncated one: the old tree is not the start of a shorter tree
        assert not merkle.verify_consistency(
            first, n, mth(leaves[: first - 1] or [b"?"]), root, consistency
        )


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=2, max_value=200), data=st.data())
def test_a_consistency_proof_is_refused_for_other_sizes(n: int, data: st.DataObject) -> None:
    leaves = inputs(n)
    root = mth(leaves)
    first = data.draw(st.integers(min_value=1, max_value=n - 1))
    consistency = proof(first, leaves)
    old = mth(leaves[:first])
    assert merkle.verify_consistency(first, n, old, root, consistency)
    assert not merkle.verify_consistency(first, n, root, root, consistency)
    assert not merkle.verify_consistency(first, n, old, old, consistency)
    assert not merkle.verify_consistency(first, n, old, root, [])
    assert not merkle.verify_consistency(first, n, old, root, consistency[:-1])
    assert merkle.verify_consistency(n, n, root, root, [])
    assert not merkle.verify_consistency(n, n, root, old, [])
    assert merkle.verify_consistency(0, n, merkle.EMPTY_ROOT, root, [])
