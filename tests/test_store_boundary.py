"""The storage boundary holds: every SQL statement of the ledger is under `ledger/store/`, and
the store's facade never asks which database it is on (what differs is its `Backend`'s)."""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import ledger.store
from ledger.store import backend as backend_module

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "ledger" / "store"
# The modules of the store that must not know one database from another.
NEUTRAL = ("facade.py", "backend.py", "schema.py", "rows.py")

# Uppercase, as the project writes SQL: prose in a docstring ("select the rows from ...")
# is not a statement.
SQL = re.compile(
    r"\bSELECT\b[^;]*?\bFROM\b"
    r"|\bSELECT\s+(?:\d|pg_\w+\()"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bDELETE\s+FROM\b"
    r"|\bUPDATE\s+\S+\s+SET\b"
    r"|\b(?:CREATE|DROP)\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|SCHEMA|VIEW|TRIGGER|TYPE)\b"
    r"|\bALTER\s+TABLE\b"
    r"|\bPRAGMA\s+\w"
    # a table after VACUUM or ANALYZE: quoted, a `{p}`, a hole, or a name with an underscore
    r"|\b(?:VACUUM|ANALYZE)(?:\s*$|\s+(?:[{\"]|x\b|\w*_\w*))"
    r"|\bCOPY\s+\S+\s+FROM\s+STDIN\b"
    r"|\bLOCK\s+TABLE\b"
    r"|\bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b",
    re.DOTALL,
)


def _texts(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string the code builds from literals, with its line: plain strings (implicit
    concatenation included), f-strings and `+` chains, each with its holes filled by `x`."""
    inside: set[int] = set()  # strings already read as part of a larger expression
    for node in ast.walk(tree):
        if id(node) in inside:
            continue
        if isinstance(node, ast.JoinedStr | ast.BinOp):
            text = _flatten(node)
            if text is not None:
                inside.update(id(child) for child in ast.walk(node) if child is not node)
                yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _flatten(node: ast.AST) -> str | None:
    """The text of an f-string or a `+` chain holding at least one string literal."""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else " x " for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _flatten(node.left), _flatten(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else " x ") + (right if right is not None else " x ")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, statement) for each string of `source` that holds SQL."""
    found = []
    for line, text in _texts(ast.parse(source)):
        match = SQL.search(text)
        if match:
            found.append((line, " ".join(text[match.start() :].split())[:70]))
    return sorted(found)


def outside_the_store(root: Path) -> list[Path]:
    """The .py files of `root`'s ledger/ (but ledger/store/), plugins/ and examples/."""
    store = root / "ledger" / "store"
    files = [path for path in sorted((root / "ledger").rglob("*.py")) if store not in path.parents]
    for folder in ("plugins", "examples"):
        files += sorted((root / folder).rglob("*.py"))
    return files


def sql_outside_the_store(root: Path) -> list[str]:
    """`file:line: statement` for each SQL statement outside `root`'s ledger/store/."""
    return [
        f"{path.relative_to(root)}:{line}: {statement}"
        for path in outside_the_store(root)
        for line, statement in sql_in(path.read_text(encoding="utf-8"))
    ]


def test_no_sql_statement_lives_outside_the_store():
    assert len(outside_the_store(ROOT)) > 40  # ledger/, plugins/ and examples/ were all found
    found = sql_outside_the_store(ROOT)
    assert not found, "SQL outside ledger/store/ (move it into a named store method):\n" + (
        "\n".join(found)
    )


PLANTED = '''
"""A module that reads the store behind its back. Select what you like from the list."""

def bad(cur, table, cols, key):
    cur.execute("SELECT event_id FROM rl_log")
    cur.execute(f"SELECT {cols} FROM {table} WHERE id = ?", (key,))
    cur.execute("SELECT " + cols + " FROM rl_rows")
    cur.execute(
        "DELETE FROM rl_rows "
        "WHERE projection = ?"
    )
    cur.execute("INSERT INTO rl_meta VALUES (?, ?)")
    cur.execute(f"UPDATE {table} SET seq = 1")
    cur.execute("CREATE INDEX IF NOT EXISTS rl_x ON rl_log (seq)")
    cur.execute("DROP TABLE rl_rows")
    cur.execute("PRAGMA busy_timeout=3000")
    cur.execute("ALTER TABLE rl_log ADD COLUMN x TEXT")
    cur.execute(f"VACUUM {table}")
    return "Update the rows, then select a person from the view."
'''


def test_the_detector_names_each_planted_statement_and_no_prose():
    found = sql_in(PLANTED)
    assert [line for line, _ in found] == [5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18]
    assert found[0] == (5, "SELECT event_id FROM rl_log")
    assert found[1][1].startswith("SELECT x FROM x WHERE id = ?")
    assert found[3] == (9, "DELETE FROM rl_rows WHERE projection = ?")


def test_the_detector_reports_a_planted_file_by_path_and_line(tmp_path: Path):
    for folder in ("ledger/store", "plugins/sneaky", "examples"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "ledger" / "ok.py").write_text('"""Nothing to see."""\n')
    (tmp_path / "ledger" / "store" / "inside.py").write_text('Q = "SELECT seq FROM rl_log"\n')
    (tmp_path / "plugins" / "sneaky" / "reader.py").write_text(
        textwrap.dedent(
            """\
            import sqlite3

            IDS = sqlite3.connect("x.db").execute("SELECT event_id FROM rl_log")
            """
        )
    )
    assert sql_outside_the_store(tmp_path) == [
        "plugins/sneaky/reader.py:3: SELECT event_id FROM rl_log"
    ]


# -- the facade is backend-neutral --------------------------------------------------------------

BACKEND_WORDS = {"sqlite", "sqlite3", "postgres", "postgresql", "psycopg", "pg"}


def branches_on_a_backend(source: str) -> list[str]:
    """What in `source` tells one database from another: an import of a driver or of a
    backend module, an `is_sqlite`-like name, a comparison with a database's name, an
    isinstance() against a backend class."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or "", *modules]
            for name in modules:
                if set(name.lower().split(".")) & BACKEND_WORDS:
                    found.append(f"{line}: imports {name}")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            words = set(name.lower().strip("_").split("_"))
            if name.lower() in {"dialect", "is_sqlite", "is_postgres"} or (
                "is" in words and words & BACKEND_WORDS
            ):
                found.append(f"{line}: {name}")
        elif isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant) and str(side.value).lower() in BACKEND_WORDS:
                    found.append(f"{line}: compares with {side.value!r}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"isinstance", "issubclass"}
        ):
            kinds = ast.unparse(node.args[1]).lower() if len(node.args) > 1 else ""
            if any(word in kinds for word in ("sqlite", "postgres", "backend")):
                found.append(f"{line}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", NEUTRAL)
def test_the_neutral_modules_of_the_store_have_no_backend_branch(module: str):
    source = (STORE / module).read_text(encoding="utf-8")
    assert branches_on_a_backend(source) == []


def test_the_branch_detector_catches_planted_branches():
    planted = textwrap.dedent(
        """\
        import sqlite3
        from .postgres import PostgresBackend

        def read(self, row):
            if self.is_sqlite:
                return row
            if self.dialect == "postgresql":
                return tuple(row.values())
            if isinstance(self.backend, PostgresBackend):
                return None
        """
    )
    found = branches_on_a_backend(planted)
    assert sorted(int(item.split(":")[0]) for item in found) == [1, 2, 5, 7, 7, 9]


def test_every_backend_has_every_member_of_the_protocol():
    members = {
        name
        for name in vars(backend_module.Backend)
        if not name.startswith("_") and name not in {"__annotations__"}
    } | set(backend_module.Backend.__annotations__)
    assert {"open", "accepts", "write", "insert", "replace_rows", "env", "text_order"} <= members
    assert len(ledger.store.BACKENDS) >= 2
    for backend in ledger.store.BACKENDS:
        source = Path(__import__(backend.__module__, fromlist=["_"]).__file__).read_text()
        instance_attrs = set(re.findall(r"self\.(\w+)(?::[^=\n]+)? = ", source))
        missing = sorted(
            name for name in members if not hasattr(backend, name) and name not in instance_attrs
        )
        assert not missing, f"{backend.__name__} lacks {missing}"


def test_each_database_is_claimed_by_one_backend():
    claims = {
        db: [b.name for b in ledger.store.BACKENDS if b.accepts(db)]
        for db in (None, "ledger.db", "/tmp/x/ledger.db", "postgresql://h/db", "postgres://h/db")
    }
    assert claims == {
        None: ["sqlite"],
        "ledger.db": ["sqlite"],
        "/tmp/x/ledger.db": ["sqlite"],
        "postgresql://h/db": ["postgresql"],
        "postgres://h/db": ["postgresql"],
    }
    for db in ("mysql://h/db", "", "  "):
        assert not any(b.accepts(db) for b in ledger.store.BACKENDS), db
