"""The ledger's Merkle tree kept in `rl_tree` (see `ledger/merkle.py`): grown with the log.

`rl_tree` holds one row per complete subtree: its `position` (the order appending creates it)
and its hash. It is derived from the log alone (each event's stored chain hash and its
referral's previous `seq`), so it is never the ledger's history: a ledger without it (one of
0.1) or with less of it than the log (events written by a version without it) has it built or
caught up from `rl_log`, inside a write. What it is for is the trust of a head kept elsewhere:
a checkpoint's tree root, with which the current tree must be consistent (RFC 9162), and the
inclusion proofs by which `audit` shows a referral's events are in the tree of that root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .. import merkle
from .backend import PAGE, Cursor

# A log row as the tree takes it: (seq, stored chain hash, referral or None).
Leaf = tuple[int, str, str | None]


def size(cur: Cursor) -> int | None:
    """How many leaves the stored tree has (None: its rows fit no tree)."""
    row = cur.one("SELECT MAX(pos) AS n FROM {p}rl_tree")
    top = row["n"] if row is not None else None
    return 0 if top is None else merkle.size_of(int(top) + 1)


def nodes(cur: Cursor, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of these complete subtrees (those missing are left out)."""
    by_pos = {merkle.position(*node): node for node in wanted}
    found: dict[merkle.Node, bytes] = {}
    positions = sorted(by_pos)
    for start in range(0, len(positions), 500):
        where, params = cur.backend.one_of("pos", positions[start : start + 500])
        for row in cur.all(f"SELECT pos, hash FROM {{p}}rl_tree WHERE {where}", params):
            found[by_pos[int(row["pos"])]] = bytes(row["hash"])
    return found


def edge(cur: Cursor, leaves: int) -> list[bytes] | None:
    """The hashes of the tree's `frontier` (None when one is missing: a damaged tree)."""
    wanted = merkle.frontier(leaves)
    found = nodes(cur, wanted)
    if len(found) != len(wanted):
        return None
    return [found[node] for node in wanted]


def head(cur: Cursor) -> tuple[int, bytes] | None:
    """(size, root) of the stored tree, or None when its rows fit no tree."""
    leaves = size(cur)
    if leaves is None:
        return None
    hashes = edge(cur, leaves)
    return None if hashes is None else (leaves, merkle.root_of(leaves, hashes))


def links(cur: Cursor, page: Sequence[Leaf]) -> list[int]:
    """For each row of `page` (consecutive seqs), the seq of its referral's previous event."""
    first = page[0][0]
    keys = list(dict.fromkeys(r for _, _, r in page if r))
    last: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        where, params = cur.backend.one_of("referral", keys[start : start + 500])
        rows = cur.all(
            f"SELECT referral, MAX(seq) AS seq FROM {{p}}rl_log WHERE {where} AND seq < ? "
            "GROUP BY referral",
            (*params, first),
        )
        last.update({row["referral"]: int(row["seq"]) for row in rows})
    found = []
    for seq, _, referral in page:
        found.append(last.get(referral, 0) if referral else 0)
        if referral:
            last[referral] = seq
    return found


def leaf_hashes(page: Sequence[Leaf], previous: Sequence[int]) -> list[bytes]:
    return [
        merkle.leaf_hash(merkle.leaf_input(digest, link))
        for (_, digest, _), link in zip(page, previous, strict=True)
    ]


def _append(cur: Cursor, leaves: int, hashes: list[bytes], page: Sequence[Leaf]) -> list[bytes]:
    made, after = merkle.grow(leaves, hashes, leaf_hashes(page, links(cur, page)))
    cur.insert("{p}rl_tree", made)
    return after


def grow(cur: Cursor, page: Sequence[Leaf]) -> None:
    """Inside the append that wrote `page` (its log rows, consecutive seqs, already in
    rl_log): add their leaves. A tree behind the log is caught up first; one ahead of it (the
    log's newest rows were removed behind the ledger's back) gives up those leaves, as the
    chain gives up those links; a damaged one is built again."""
    if not page:
        return
    first = page[0][0]
    leaves = size(cur)
    if leaves is None or leaves > first - 1:
        _truncate(cur, first - 1 if leaves is not None else 0)
        leaves = size(cur)
    if leaves is not None and leaves < first - 1:
        catch_up(cur, until=first - 1)
        leaves = size(cur)
    if leaves != first - 1:
        return  # a gap in the log before this page: the tree waits (verify reports the gap)
    hashes = edge(cur, leaves)
    if hashes is None:
        _truncate(cur, 0)
        catch_up(cur, until=first - 1)
        leaves = size(cur)
        hashes = edge(cur, leaves) if leaves == first - 1 else None
        if hashes is None:
            return
    _append(cur, first - 1, hashes, page)


def grow_if_allowed(cur: Cursor, page: Sequence[Leaf]) -> None:
    """`grow`, unless the session may not write the tree (SQLSTATE 42501: a member of a team
    ledger whose grants predate the tree; `team add` grants it again): then the tree waits,
    and the next writable open by a role that may catches it up. Any other error stands."""
    cur.run("SAVEPOINT rl_tree")
    try:
        grow(cur, page)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != "42501":
            raise
        cur.run("ROLLBACK TO SAVEPOINT rl_tree")
    cur.run("RELEASE SAVEPOINT rl_tree")


def _truncate(cur: Cursor, leaves: int) -> None:
    """Keep the nodes of the first `leaves` leaves only."""
    cur.run("DELETE FROM {p}rl_tree WHERE pos >= ?", (merkle.node_count(leaves),))


def rebuild(cur: Cursor) -> None:
    """Inside a write: every node again, from the log."""
    _truncate(cur, 0)
    catch_up(cur)


def behind(cur: Cursor) -> bool:
    """Whether the log has rows the tree lacks (a read: two lookups)."""
    row = cur.one("SELECT MAX(seq) AS n FROM {p}rl_log")
    top = row["n"] if row is not None else None
    if type(top) is not int:
        return False  # empty, or a seq that is no number (verify reports it)
    leaves = size(cur)
    return leaves is None or leaves < top


def catch_up(cur: Cursor, *, until: int | None = None) -> None:
    """Inside a write: add the leaves of the log's rows the tree lacks, in `seq` order, up to
    `until` (default: the end), stopping at a gap in `seq` or a hash that is no hash."""
    leaves = size(cur)
    if leaves is None:
        _truncate(cur, 0)
        leaves = 0
    hashes = edge(cur, leaves)
    if hashes is None:
        _truncate(cur, 0)
        leaves, hashes = 0, []
    while until is None or leaves < until:
        upper = leaves + PAGE if until is None else min(leaves + PAGE, until)
        rows = cur.all(
            "SELECT seq, hash, referral FROM {p}rl_log WHERE seq > ? AND seq <= ? ORDER BY seq",
            (leaves, upper),
        )
        page = _usable(rows, leaves)
        if not page:
            return
        hashes = _append(cur, leaves, hashes, page)
        leaves += len(page)
        if leaves < upper:
            return  # the end of the log, a gap, or a row the tree cannot take: it waits there


def _usable(rows: Sequence[Any], leaves: int) -> list[Leaf]:
    page: list[Leaf] = []
    for row in rows:
        seq, digest = row["seq"], row["hash"]
        if type(seq) is not int or seq != leaves + len(page) + 1:
            break
        try:
            bytes.fromhex(digest)
        except (TypeError, ValueError):
            break
        if len(digest) != 64:
            break
        page.append((seq, digest, row["referral"]))
    return page
