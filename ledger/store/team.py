"""A team ledger on PostgreSQL: members are database roles mapped to handles, and the database
itself guards what each may write, for every client (this CLI, psql, anything).

`rl_team` maps a login role to a person's handle, with two marks: `admin` (may record anything
on behalf of anyone, and retract any event) and `privacy_officer` (may forget anyone). The
first `team add`, run by a role that owns the ledger's tables, installs triggers on the tables
an append writes (`GUARDS`); while `rl_team` is empty they let everything through, so a ledger
without members behaves as before. Grants give a member what a write and a read need, nothing
more: no table of the history can be updated or deleted by a member (a trigger refuses what a
grant had to allow: `LOCK TABLE … IN EXCLUSIVE MODE` needs UPDATE on rl_log), personal values
and keys are deleted only once their person is forgotten, and plugins' derived rows, which
every read may rewrite, stay open to members (`replay` finds a change to them).

Triggers, not row-level security: COPY, which appends use, refuses tables with RLS, and a
trigger can say what the role may not do. `recorded_by` is the session's login role
(`session_user`): `SET ROLE` does not change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LedgerError
from .facade import Store
from .postgres import PostgresBackend

# A guard refuses with SQLSTATE 42501 (insufficient_privilege), as PostgreSQL's own "permission
# denied" does: the backend turns both into `Error: …`, exit 2 (`PostgresBackend.refusal`).

# What a member may do to each table, by privilege. The history (events, log, indexes) takes
# inserts only; what a trigger guards is marked in `_GUARDED`.
MEMBER_GRANTS: dict[str, tuple[str, ...]] = {
    "{events}": ("SELECT", "INSERT"),
    "{p}rl_log": ("SELECT", "INSERT", "UPDATE"),  # UPDATE for LOCK TABLE; refused by trigger
    "{p}rl_private": ("SELECT", "INSERT", "DELETE"),  # DELETE: a forget's, by trigger
    "{p}rl_keys": ("SELECT", "INSERT", "DELETE"),
    "{p}rl_retractions": ("SELECT", "INSERT"),
    "{p}rl_mentions": ("SELECT", "INSERT"),
    "{p}rl_types": ("SELECT", "INSERT"),
    "{p}rl_meta": ("SELECT", "INSERT", "UPDATE"),  # the privacy mode, claimed by the 1st write
    # the Merkle tree over the log (derived from it): grown by each append; DELETE for one
    # that has to be built again (see `tree.grow`)
    "{p}rl_tree": ("SELECT", "INSERT", "DELETE"),
    "{p}rl_team": ("SELECT",),
    "{p}rl_positions": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "{p}rl_rows": ("SELECT", "INSERT", "UPDATE", "DELETE"),
}

_TEAM_TABLE = """
CREATE TABLE IF NOT EXISTS {p}rl_team (
    role TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    privacy_officer BOOLEAN NOT NULL DEFAULT FALSE
)
"""

# `{p}` is the schema ("name".), `{events}` eventsourcing's table; `$fn$` quotes each body.
_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION {p}rl_guard_event() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
DECLARE
    m {p}rl_team%ROWTYPE;
    rec jsonb;
    kind text;
    who text;
    stored_by text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {p}rl_team) THEN
        RETURN NEW;
    END IF;
    SELECT * INTO m FROM {p}rl_team WHERE role = session_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % may not record events: it is not a member of this ledger''s team',
            session_user USING ERRCODE = '42501';
    END IF;
    rec := convert_from(NEW.state, 'UTF8')::jsonb -> 'record';
    kind := rec ->> 'type';
    who := rec ->> 'by';
    IF kind = 'person-forgotten' THEN
        IF NOT m.privacy_officer AND rec ->> 'handle' IS DISTINCT FROM m.handle THEN
            RAISE EXCEPTION 'role % (%) may not forget %: only %''s own role or a privacy officer may',
                session_user, m.handle, rec ->> 'handle', rec ->> 'handle' USING ERRCODE = '42501';
        END IF;
    ELSIF m.admin THEN
        RETURN NEW;
    END IF;
    IF who IS NOT NULL AND who <> m.handle AND NOT m.admin THEN
        RAISE EXCEPTION 'role % may not record events by %: a member records only events by its own handle, %',
            session_user, who, m.handle USING ERRCODE = '42501';
    END IF;
    IF kind = 'person-forgotten' THEN
        RETURN NEW;
    END IF;
    IF kind = 'person-updated' AND rec ->> 'handle' IS DISTINCT FROM m.handle THEN
        RAISE EXCEPTION 'role % may not update the details of %: only % may',
            session_user, rec ->> 'handle', rec ->> 'handle' USING ERRCODE = '42501';
    END IF;
    IF kind = 'event-retracted' THEN
        SELECT recorded_by INTO stored_by FROM {p}rl_log WHERE event_id = rec ->> 'retracts';
        IF FOUND AND stored_by IS DISTINCT FROM session_user THEN
            RAISE EXCEPTION 'role % may not retract event %: it was recorded by %, and a member retracts only its own events',
                session_user, rec ->> 'retracts', COALESCE(stored_by, 'no role (before 0.2)')
                USING ERRCODE = '42501';
        END IF;
    END IF;
    IF who IS NULL AND kind NOT IN ('person-added', 'person-updated') AND NOT EXISTS (
        SELECT 1 FROM {p}rl_log l
        JOIN {events} s
          ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version
        CROSS JOIN LATERAL (SELECT convert_from(s.state, 'UTF8')::jsonb -> 'record' AS r) AS e
        WHERE l.referral = rec ->> 'referral'
          AND l.type IN ('referral-requested', 'introduction-made')
          AND NOT EXISTS (SELECT 1 FROM {p}rl_retractions x WHERE x.retracted_id = l.event_id)
          AND m.handle IN (e.r ->> 'by', e.r ->> 'referrer', e.r ->> 'target', e.r ->> 'to')
    ) THEN
        RAISE EXCEPTION 'role % may not record a % without by: only a party of its referral may',
            session_user, kind USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_log() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {p}rl_team) THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user) THEN
        RAISE EXCEPTION 'role % may not record events: it is not a member of this ledger''s team',
            session_user USING ERRCODE = '42501';
    END IF;
    -- The column's default is session_user; any other value (NULL too: the chain would not
    -- cover what is stored) is refused rather than replaced, so no link is left broken.
    IF NEW.recorded_by IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'role % may not record events as recorded by %: recorded_by is the session''s own role',
            session_user, COALESCE(NEW.recorded_by, 'no one') USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_history() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user) THEN
        RAISE EXCEPTION 'role % may not % rows of %: stored events are never changed',
            session_user, lower(TG_OP), TG_TABLE_NAME USING ERRCODE = '42501';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_erasure() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
DECLARE
    whose text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        RAISE EXCEPTION 'role % may not % seals or keys (%): they change only through a forget',
            session_user, lower(TG_OP), TG_TABLE_NAME USING ERRCODE = '42501';
    END IF;
    whose := COALESCE(to_jsonb(OLD) ->> 'handle', to_jsonb(OLD) ->> 'owner');
    IF NOT EXISTS (
        SELECT 1 FROM {p}rl_log WHERE type = 'person-forgotten' AND actor = whose
    ) THEN
        RAISE EXCEPTION 'role % may not delete the personal data or key of %: only a forget erases them',
            session_user, whose USING ERRCODE = '42501';
    END IF;
    RETURN OLD;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_meta() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user)
       AND EXISTS (SELECT 1 FROM {p}rl_log) THEN
        RAISE EXCEPTION 'role % may not % rl_meta: how the ledger keeps personal data is fixed by its first event',
            session_user, lower(TG_OP) USING ERRCODE = '42501';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_private() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user) AND NOT EXISTS (
        SELECT 1 FROM {p}rl_log WHERE event_id = NEW.event_id AND recorded_by = session_user
    ) THEN
        RAISE EXCEPTION 'role % may not add personal data to event %: only to events it records',
            session_user, NEW.event_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION {p}rl_guard_retraction() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM {p}rl_team WHERE role = session_user) AND NOT EXISTS (
        SELECT 1 FROM {p}rl_log l
        JOIN {events} s
          ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version
        WHERE l.seq = NEW.seq AND l.type = 'event-retracted'
          AND convert_from(s.state, 'UTF8')::jsonb -> 'record' ->> 'retracts' = NEW.retracted_id
    ) THEN
        RAISE EXCEPTION 'role % may not mark event % retracted: only an event-retracted does',
            session_user, NEW.retracted_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$
"""

# The history's tables: a member inserts into them, never updates, deletes or truncates.
_HISTORY = ("{events}", "{p}rl_log", "{p}rl_retractions", "{p}rl_mentions", "{p}rl_types")
_ROW_INSERT = "BEFORE INSERT ON {t} FOR EACH ROW"
_ROW_CHANGE = "BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW"

# (trigger, table, when, function): installed by every `team add`, dropped first so a newer
# release's definition replaces an older one.
GUARDS: tuple[tuple[str, str, str, str], ...] = (
    ("rl_guard_event", "{events}", _ROW_INSERT, "rl_guard_event"),
    ("rl_guard_log", "{p}rl_log", _ROW_INSERT, "rl_guard_log"),
    ("rl_guard_private", "{p}rl_private", _ROW_INSERT, "rl_guard_private"),
    ("rl_guard_retraction", "{p}rl_retractions", _ROW_INSERT, "rl_guard_retraction"),
    *(("rl_guard_history", table, _ROW_CHANGE, "rl_guard_history") for table in _HISTORY),
    *(
        ("rl_guard_erasure", table, _ROW_CHANGE, "rl_guard_erasure")
        for table in ("{p}rl_private", "{p}rl_keys")
    ),
    ("rl_guard_meta", "{p}rl_meta", _ROW_CHANGE, "rl_guard_meta"),
    *(
        ("rl_guard_truncate", table, "BEFORE TRUNCATE ON {t}", "rl_guard_history")
        for table in (*_HISTORY, "{p}rl_private", "{p}rl_keys", "{p}rl_meta")
    ),
)


@dataclass(frozen=True)
class Member:
    """One member of a team ledger."""

    role: str
    handle: str
    admin: bool
    privacy_officer: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "handle": self.handle,
            "admin": self.admin,
            "privacy_officer": self.privacy_officer,
        }


class Team:
    """The members of one PostgreSQL ledger, and the grants and triggers that guard it."""

    def __init__(self, store: Store):
        if not isinstance(store.backend, PostgresBackend):
            raise LedgerError(
                f"a team ledger needs PostgreSQL: {store.url} is a SQLite file, which has no "
                "database roles to tell members apart (use --db postgresql://…)"
            )
        self.store = store

    def _sql(self, statement: str, table: str | None = None) -> str:
        return statement.replace("{t}", table or "").replace("{p}", self.store.prefix).replace(
            "{events}", self.store.events_table
        )

    def _quote(self, cur: Any, role: str) -> str:
        from psycopg import sql

        return sql.Identifier(role).as_string(cur.raw)

    def members(self) -> list[Member]:
        """Every member, by role name; none before the first `team add`."""
        with self.store.read() as cur:
            if not self.store.backend.list_tables(cur, {"rl_team"}):
                return []
            rows = cur.all(
                "SELECT role, handle, admin, privacy_officer FROM {p}rl_team ORDER BY role"
            )
        return [Member(r["role"], r["handle"], r["admin"], r["privacy_officer"]) for r in rows]

    def add(self, role: str, handle: str, *, admin: bool, privacy_officer: bool) -> bool:
        """Make a login role a member (or change its handle and marks); True when it is new."""
        from ..events import HANDLE_RE

        if not HANDLE_RE.match(handle):
            raise LedgerError(f"--handle {handle!r} is not a person handle")
        with self.store.write(lock=True) as cur:
            self._check_owner(cur, "add members")
            found = cur.one("SELECT rolcanlogin FROM pg_roles WHERE rolname = ?", (role,))
            if found is None:
                raise LedgerError(
                    f"there is no role {role!r} on this PostgreSQL server: create it first "
                    f"(CREATE ROLE {self._quote(cur, role)} LOGIN PASSWORD '…')"
                )
            if not found["rolcanlogin"]:
                raise LedgerError(f"role {role!r} cannot log in: a member is a login role")
            self._install(cur)
            taken = cur.one(
                "SELECT role FROM {p}rl_team WHERE handle = ? AND role <> ?", (handle, role)
            )
            if taken is not None:
                raise LedgerError(f"handle {handle!r} is already the member role {taken['role']!r}")
            new = cur.one("SELECT 1 AS one FROM {p}rl_team WHERE role = ?", (role,)) is None
            cur.run(
                "INSERT INTO {p}rl_team VALUES (?,?,?,?) ON CONFLICT (role) DO UPDATE SET "
                "handle = excluded.handle, admin = excluded.admin, "
                "privacy_officer = excluded.privacy_officer",
                (role, handle, admin, privacy_officer),
            )
            self._grant(cur, role)
        return new

    def remove(self, role: str) -> Member:
        """Take a role out of the team and revoke what it was granted; its events stay."""
        with self.store.write(lock=True) as cur:
            self._check_owner(cur, "remove members")
            row = (
                cur.one(
                    "SELECT role, handle, admin, privacy_officer FROM {p}rl_team WHERE role = ?",
                    (role,),
                )
                if self._has_team(cur)
                else None
            )
            if row is None:
                raise LedgerError(f"role {role!r} is not a member of this ledger's team")
            cur.run("DELETE FROM {p}rl_team WHERE role = ?", (role,))
            self._revoke(cur, role)
        return Member(row["role"], row["handle"], row["admin"], row["privacy_officer"])

    # -- inside a write ----------------------------------------------------------------------

    def _has_team(self, cur: Any) -> bool:
        return bool(self.store.backend.list_tables(cur, {"rl_team"}))

    def _check_owner(self, cur: Any, what: str) -> None:
        """Only a role that owns the ledger's tables (or a superuser) can grant on them."""
        row = cur.one(
            "SELECT pg_get_userbyid(c.relowner) AS owner, "
            "pg_has_role(current_user, c.relowner, 'USAGE') AS owns, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relname = 'rl_log'",
            (self.store.datastore.schema,),
        )
        if row is None or not (row["owns"] or row["super"]):
            owner = row["owner"] if row is not None else "?"
            user = cur.one("SELECT current_user AS who")["who"]
            raise LedgerError(
                f"role {user} may not {what}: team add and team remove need a role that owns "
                f"the ledger's tables ({owner})"
            )

    def _install(self, cur: Any) -> None:
        """The team table, the guards, and the log's default `recorded_by`; idempotent."""
        cur.raw.execute(self._sql(_TEAM_TABLE))
        cur.raw.execute(self._sql(_FUNCTIONS))
        for name, table, when, function in GUARDS:
            target = self._sql(table)
            cur.raw.execute(f"DROP TRIGGER IF EXISTS {name} ON {target}")
            cur.raw.execute(
                f"CREATE TRIGGER {name} {self._sql(when, target)} "
                f"EXECUTE FUNCTION {self._sql('{p}')}{function}()"
            )
        cur.raw.execute(
            self._sql("ALTER TABLE {p}rl_log ALTER COLUMN recorded_by SET DEFAULT session_user")
        )

    def _sequence(self, cur: Any) -> str | None:
        row = cur.one(
            "SELECT pg_get_serial_sequence(?, 'notification_id') AS name",
            (self.store.events_table,),
        )
        return row["name"] if row is not None else None

    def _grant(self, cur: Any, role: str) -> None:
        who = self._quote(cur, role)
        schema = self.store.datastore.schema
        if schema != "public":  # everyone may use `public`, whose owner may not be ours
            cur.raw.execute(f"GRANT USAGE ON SCHEMA {self._quote(cur, schema)} TO {who}")
        for table, privileges in MEMBER_GRANTS.items():
            cur.raw.execute(f"REVOKE ALL ON {self._sql(table)} FROM {who}")
            cur.raw.execute(f"GRANT {', '.join(privileges)} ON {self._sql(table)} TO {who}")
        sequence = self._sequence(cur)
        if sequence is not None:
            cur.raw.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {who}")

    def _revoke(self, cur: Any, role: str) -> None:
        who = self._quote(cur, role)
        for table in MEMBER_GRANTS:
            cur.raw.execute(f"REVOKE ALL ON {self._sql(table)} FROM {who}")
        sequence = self._sequence(cur)
        if sequence is not None:
            cur.raw.execute(f"REVOKE ALL ON SEQUENCE {sequence} FROM {who}")
        schema = self.store.datastore.schema
        if schema != "public":
            cur.raw.execute(f"REVOKE USAGE ON SCHEMA {self._quote(cur, schema)} FROM {who}")
