"""The PostgreSQL backend: a team's ledger, at `postgresql://[user@]host[:port]/DB[?schema=NAME]`.

eventsourcing's PostgreSQL recorder holds a small pool of connections in autocommit. A write
takes `LOCK TABLE rl_log IN EXCLUSIVE MODE`, which orders writers and leaves readers alone;
many rows go in through COPY or one array per column, not one statement per row. psycopg is
imported only when a PostgreSQL ledger is opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from ..errors import ConflictError, LedgerError, StoreError
from .backend import Cursor, busy, lock_timeout, redact

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


class PostgresBackend:
    """A ledger in a schema of a PostgreSQL database."""

    name: ClassVar[str] = "postgresql"
    column_types: ClassVar[dict[str, str]] = {"uuid": "uuid", "blob": "bytea"}
    text_order: ClassVar[str] = ' COLLATE "C"'  # code point order, whatever the database's

    def __init__(self, env: dict[str, str], url: str):
        self.env = env
        self.url = url
        self.read_only = False
        self.datastore: Any = None
        self.events_table = ""
        self.prefix = ""
        self._session_user: str | None = None
        self._copy_types: dict[str, list[int]] = {}  # see `column_oids`

    @classmethod
    def accepts(cls, db: str | None) -> bool:
        return db is not None and db.startswith(("postgresql://", "postgres://"))

    @classmethod
    def open(cls, db: str | None, *, create: bool) -> PostgresBackend:
        assert db is not None
        return cls(_postgres_env(db, create=create), db)

    def attach(self, recorder: Any) -> None:
        self.datastore = recorder.datastore
        schema = self.datastore.schema
        self.events_table = f'"{schema}"."{recorder.events_table_name}"'
        self.prefix = f'"{schema}".'

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    @contextmanager
    def read(self) -> Iterator[Any]:
        # The pool's connections are in autocommit: under READ COMMITTED each statement
        # sees its own snapshot even inside a transaction, so BEGIN and ROLLBACK would
        # only add two round trips to every read.
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as cur:
                yield cur
        except Exception as exc:
            refused = _refused(exc)
            if refused is not None:
                raise self.refusal(refused) from None
            raise

    def refusal(self, exc: Any) -> LedgerError:
        """What the server refused this session's role (a team ledger's guard, a grant)."""
        message = (getattr(exc.diag, "message_primary", None) or str(exc)).strip()
        if message.startswith("role "):
            return LedgerError(message)  # a guard's own words (see team.py)
        return LedgerError(f"role {self.env['POSTGRES_USER']} may not do this here: {message}")

    def stream(self, statement: str, params: Sequence[Any], page: int) -> Iterator[Any]:
        # A server-side cursor, which needs a transaction of its own (ours are in autocommit).
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="rl_stream") as cur,
        ):
            cur.itersize = page
            cur.execute(statement, tuple(params))
            yield from cur

    @contextmanager
    def write(self, *, lock: bool) -> Iterator[Any]:
        try:
            with (
                self.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                if lock:
                    cur.execute(f"SET LOCAL lock_timeout = '{lock_timeout()}s'")
                    cur.execute(f"LOCK TABLE {self.prefix}rl_log IN EXCLUSIVE MODE")
                yield cur
        except Exception as exc:
            refused = _refused(exc)
            if refused is not None:
                raise self.refusal(refused) from None
            if type(exc).__module__.startswith("psycopg"):
                import psycopg

                if isinstance(exc, psycopg.errors.IntegrityError):
                    raise ConflictError(
                        f"another writer got there first ({exc}); try again"
                    ) from None
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    raise busy(exc) from None
                raise StoreError(f"writing the ledger failed: {exc}") from None
            raise

    def lock_schema(self, cur: Cursor) -> None:
        # `CREATE … IF NOT EXISTS` races between processes on PostgreSQL
        cur.run("SELECT pg_advisory_xact_lock(hashtext(?))", (f"referral-ledger:{self.prefix}",))

    def list_tables(self, cur: Cursor, names: set[str]) -> set[str]:
        marks = ",".join("?" * len(names))
        sql = (
            "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname IN ({marks})"
        )
        return {row["name"] for row in cur.all(sql, (self.datastore.schema, *names))}

    def create_event_tables(self, cur: Cursor, recorder: Any) -> None:
        for statement in recorder.sql_create_statements:
            if "CREATE TYPE" in statement.as_string():
                cur.raw.execute("SAVEPOINT rl_type")
                try:
                    cur.raw.execute(statement, prepare=False)
                except Exception as exc:
                    if type(exc).__name__ != "DuplicateObject":
                        raise
                    cur.raw.execute("ROLLBACK TO SAVEPOINT rl_type")
                cur.raw.execute("RELEASE SAVEPOINT rl_type")
            else:
                cur.raw.execute(statement, prepare=False)

    def columns(self, cur: Cursor, table: str) -> set[str]:
        # pg_attribute, not information_schema: that shows only the columns the role may use
        rows = cur.all(
            "SELECT a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relname = ? AND a.attnum > 0 AND NOT a.attisdropped",
            (self.datastore.schema, table),
        )
        return {row["name"] for row in rows}

    def recorded_by(self, cur: Cursor) -> str:
        # The session's login role, which the server itself stores (see team.py: for a member,
        # a trigger refuses any other); `SET ROLE` does not change it.
        if self._session_user is None:
            self._session_user = str(cur.one("SELECT session_user AS who")["who"])
        return self._session_user

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        # one array: psycopg takes long to parse 500 placeholders
        return f"{column} = ANY(?)", (list(values),)

    def insert(
        self,
        cur: Cursor,
        table: str,
        rows: Sequence[Sequence[Any]],
        unless: str,
        types: Sequence[str],
    ) -> None:
        # COPY, or (with `unless`, which COPY lacks) one array per column: one statement rather
        # than one per row, several times faster for an import.
        if unless:
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            cur.raw.execute(
                cur.sql(f"INSERT INTO {table} SELECT * FROM unnest({arrays}) {unless}"),
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            # Binary COPY: each value goes as it is (a bytea's bytes, not their hex; a number's
            # bytes, not its digits) to be stored as it is, rather than written as text by us and
            # parsed back by the server. The same values are stored; 20,000 events' rows of
            # eventsourcing's table went in 0.13-0.21 s instead of 0.31-0.33 s, with a third of
            # the client's CPU.
            target = cur.sql(table)
            oids = self.column_oids(cur, target)
            with cur.raw.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(oids)
                for row in rows:
                    copy.write_row(row)

    def column_oids(self, cur: Cursor, target: str) -> list[int]:
        """The type (its oid) of each column that a COPY into `target` fills: a table, with the
        columns given after it (`"s"."t" (a, b)`) or all of them. A binary COPY must name them;
        they are read from the catalog, once a table, so that they are the table's own (a
        ledger made by an older version included)."""
        found = self._copy_types.get(target)
        if found is None:
            table, _, listed = target.partition(" (")
            rows = cur.all(
                "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = ?::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (table,),
            )
            oids = {row["attname"]: int(row["atttypid"]) for row in rows}
            names = [n.strip() for n in listed.rstrip(")").split(",")] if listed else list(oids)
            found = self._copy_types[target] = [oids[name] for name in names]
        return found

    def replace_rows(
        self, cur: Cursor, projection: str, parts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # psycopg's executemany sends one statement per row: an array and a COPY instead. In
        # this form the planner looks each part up in the (projection, part) index even when
        # it has no statistics yet; with `part = ANY(?)` it would read every row of the
        # projection, for each chunk of a replay.
        cur.run(
            "DELETE FROM {p}rl_rows WHERE (projection, part) IN (SELECT ?::text, unnest(?::text[]))",
            (projection, list(parts)),
        )
        with cur.raw.copy(cur.sql("COPY {p}rl_rows FROM STDIN")) as copy:
            for row in rows:
                copy.write_row(row)

    def originator(self, value: UUID) -> Any:
        return value

    def values(self, row: Any) -> Sequence[Any]:
        return tuple(row.values())  # a dict row

    def after_forget(self) -> bool:
        """Let PostgreSQL prune the deleted rows now rather than at the next autovacuum."""
        with self.datastore.get_connection() as conn:  # autocommit: VACUUM refuses a transaction
            p = self.prefix
            conn.execute(f"VACUUM {p}rl_private, {p}rl_keys, {p}rl_rows")
        return False

    def analyze(self, tables: Sequence[str]) -> None:
        """Autovacuum may be off (it is on some servers) or not have come round yet: after a
        large import the planner then takes the tables for empty and plans every read as a
        scan, a join of the log with rl_private and rl_keys a nested loop over all their rows.
        ANALYZE runs outside the write transaction, so it never lengthens the write lock; it
        takes a lock that blocks neither readers nor writers."""
        names = ", ".join(
            self.events_table if name == "events" else self.prefix + name for name in tables
        )
        try:
            with self.datastore.get_connection() as conn:  # autocommit, like every read
                conn.execute(f"ANALYZE {names}")
        except Exception:  # noqa: BLE001 — the events are committed; statistics are only a help
            return

    def files(self) -> list[Path]:
        return []


def _postgres_env(url: str, *, create: bool = False) -> dict[str, str]:
    parsed = urlparse(url)
    where = redact(url)
    try:
        port = parsed.port
    except ValueError:
        raise LedgerError(f"--db {where}: the port is not a number from 1 to 65535") from None
    if port == 0:
        raise LedgerError(f"--db {where}: the port is not a number from 1 to 65535")
    host = unquote(parsed.hostname or "")
    if parsed.netloc.rpartition("@")[2] and not _HOST.fullmatch(host):
        raise LedgerError(f"--db {where}: {host!r} is not a host name")
    dbname = unquote(parsed.path.lstrip("/"))
    if not dbname or "/" in dbname or "\x00" in dbname:
        raise LedgerError(
            f"--db {where}: a postgresql:// URL must name a database "
            "(postgresql://[user@]host[:port]/DATABASE[?schema=NAME])"
        )
    try:
        query = parse_qs(parsed.query, keep_blank_values=True, strict_parsing=bool(parsed.query))
    except ValueError:
        raise LedgerError(f"--db {where}: the query part is not NAME=VALUE pairs") from None
    unknown = sorted(set(query) - {"schema"})
    if unknown:
        raise LedgerError(
            f"--db {where}: unknown URL parameter(s) {', '.join(map(repr, unknown))}; "
            "only 'schema' is understood"
        )
    schemas = query.get("schema", ["public"])
    if len(schemas) > 1:
        raise LedgerError(f"--db {where}: 'schema' is given more than once")
    schema = schemas[0]
    if not _SCHEMA.fullmatch(schema):
        raise LedgerError(
            f"--db {where}: schema {schema!r} must be lowercase letters, digits and _, "
            "starting with a letter or _, at most 63 characters"
        )
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host or "127.0.0.1",
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout()),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # A CLI process runs one statement at a time: one connection, a few for nested reads.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "3",
        "CREATE_TABLE": "no",  # Store._create_tables does it, once, under an advisory lock
    }
    _probe_pg(env, schema, url, create=create)
    return env


def _probe_pg(env: dict[str, str], schema: str, url: str, *, create: bool = False) -> None:
    """Connect once, directly: an unreachable server fails now and clearly, not after the
    pool's retries. A write creates the ledger's schema here; a read finds the ledger or
    stops, creating nothing."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
            autocommit=True,
        ) as conn:
            if not create:
                found = conn.execute(
                    "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname LIKE 'rl\\_%%'",
                    (schema,),
                ).fetchone()
                if found is None:
                    raise LedgerError(f"no ledger at {redact(url)}")
            elif schema != "public" and not _schema_exists(conn, schema):
                # (a member of a team ledger may not create schemas: only look, then)
                try:
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                    )
                except psycopg.errors.UniqueViolation:
                    pass  # another process created it at the same moment
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot open the ledger at {redact(url)}: {reason}") from None
    except (ValueError, UnicodeError) as exc:  # psycopg's own check of what it is given
        raise LedgerError(f"--db {redact(url)}: {exc}") from None


def _schema_exists(conn: Any, schema: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return found is not None


def _refused(exc: BaseException) -> Any:
    """The server's refusal of a privilege behind `exc` (eventsourcing's pool wraps the
    driver's errors in its own), or None."""
    seen: BaseException | None = exc
    for _ in range(3):
        if seen is None:
            return None
        if type(seen).__name__ == "InsufficientPrivilege":
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
