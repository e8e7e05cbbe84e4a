"""The ledger's Merkle tree (RFC 9162, section 2.1): hashes, node positions, proofs. Pure.

One leaf per event, in `seq` order (leaf index = seq - 1). A leaf's input commits to the
event's chain hash as `rl_log` stores it and to the `seq` of the previous event of the same
referral (0 for a referral's first event and for an event with no referral): the referral's
link, so that an event of the referral removed from the log breaks the next one's leaf.

    leaf hash = SHA-256(0x00 || chain hash (32 bytes) || previous seq (8 bytes, big-endian))
    node hash = SHA-256(0x01 || left || right)

The tree of `n` leaves is RFC 9162's MTH over them; its nodes are the complete subtrees
(level `L`, index `i`: leaves `i·2^L … (i+1)·2^L - 1`), each stored once, numbered in the order
appending creates them (`position`). Any other subtree of an RFC tree (one that ends at `n`,
"ragged") is hashed from complete ones (`range_hash`), so that an inclusion or consistency
proof reads O(log n) stored nodes and hashes O(log² n) at most.

Proofs are computed as lists of leaf ranges `[a, b)` (`inclusion_ranges`, `consistency_ranges`,
RFC 9162's PATH and PROOF), whose hashes `range_hash` gives from the stored nodes that
`complete_parts` names; `verify_inclusion` and `verify_consistency` are the RFC's verification
algorithms (sections 2.1.3.2 and 2.1.4.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index) of a complete subtree

EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = HASH()


def leaf_input(chain_hash: str, previous: int) -> bytes:
    """What a leaf commits to: the event's chain hash (hex, as stored) and the `seq` of the
    previous event of its referral (0: none)."""
    return bytes.fromhex(chain_hash) + previous.to_bytes(8, "big")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- where nodes are stored ------------------------------------------------------------------


def node_count(size: int) -> int:
    """How many complete subtrees a tree of `size` leaves has: 2n - popcount(n)."""
    return 2 * size - size.bit_count()


def position(level: int, index: int) -> int:
    """The 0-based order in which appending leaves creates this node: after leaf k - 1 (k the
    node's last leaf + 1) come the nodes of levels 0, 1, … that leaf completes."""
    before = ((index + 1) << level) - 1  # leaves appended before the node's last one
    return node_count(before) + level


def size_of(count: int) -> int | None:
    """The number of leaves of a tree of `count` stored nodes; None if no tree has that many."""
    low = count // 2
    for size in range(low, low + 66):
        found = node_count(size)
        if found == count:
            return size
        if found > count:
            return None
    return None


def frontier(size: int) -> list[Node]:
    """The complete subtrees a tree of `size` leaves is made of, left to right."""
    nodes: list[Node] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def grow(
    size: int, edge: Sequence[bytes], leaves: Iterable[bytes]
) -> tuple[list[tuple[int, bytes]], list[bytes]]:
    """Append leaf hashes to a tree of `size` leaves whose `frontier` hashes are `edge`: the
    (position, hash) of every node the appends create, in position order, and the new edge."""
    stack = list(edge)
    levels = [level for level, _ in frontier(size)]
    made: list[tuple[int, bytes]] = []
    for leaf in leaves:
        pos = node_count(size)
        made.append((pos, leaf))
        node, level = leaf, 0
        while levels and levels[-1] == level:
            levels.pop()
            node = node_hash(stack.pop(), node)
            level += 1
            pos += 1
            made.append((pos, node))
        stack.append(node)
        levels.append(level)
        size += 1
    return made, stack


def root_of(size: int, edge: Sequence[bytes]) -> bytes:
    """MTH of a tree of `size` leaves from its `frontier` hashes (right to left, RFC's split)."""
    if size == 0:
        return EMPTY_ROOT
    found = edge[-1]
    for node in reversed(edge[:-1]):
        found = node_hash(node, found)
    return found


# -- subtrees and proofs as leaf ranges --------------------------------------------------------


def complete_parts(start: int, end: int) -> list[Node]:
    """The complete subtrees whose hashes give MTH(D[start:end]) for a subtree of an RFC tree
    (`start` a multiple of the largest power of two below `end - start`, or the range itself
    complete and aligned), left to right."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return [(level, start >> level)]
    k = _split(n)
    return complete_parts(start, start + k) + complete_parts(start + k, end)


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from the stored hashes of its `complete_parts`."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return nodes[level, start >> level]
    k = _split(n)
    return node_hash(range_hash(start, start + k, nodes), range_hash(start + k, end, nodes))


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(m, D[n]) as the leaf ranges of its hashes, leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162 PROOF(m, D[n]) as the leaf ranges of its hashes, in the RFC's order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    proof: list[tuple[int, int]] = []

    def sub(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append((start, end))
            return
        k = _split(n)
        if m <= k:
            sub(m, start, start + k, whole)
            proof.append((start + k, end))
        else:
            sub(m - k, start + k, end, False)
            proof.append((start, start + k))

    sub(first, 0, second, True)
    return proof


def needed(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node the hashes of these ranges are made of."""
    return {node for start, end in ranges for node in complete_parts(start, end)}


# -- RFC 9162's verification algorithms -------------------------------------------------------


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162, 2.1.3.2: whether `proof` shows leaf hash `leaf` at `index` in the tree of
    `size` leaves whose root is `root`."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162, 2.1.4.2: whether `proof` shows the tree of `first` leaves (root `first_root`)
    to be the first leaves of the tree of `second` (root `second_root`)."""
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # every tree extends the empty one
    if first > second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
