"""Statements run through the database driver with their SQL compiled once: the writes of
every commit of a run (:meth:`hvroll.store.Store.commit`) and the lease's renewal with it
(:meth:`hvroll.store.lease.Lease.renew`). SQLAlchemy's own execution of a Core statement
builds and converts each row's parameters in Python, and that was most of a simulated run's
commit; they run on a cursor of the connection's driver connection, in its transaction,
without SQLAlchemy's execution context around each call (a driver error is raised as
SQLAlchemy's exception for it, as SQLAlchemy raises it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import Enum, Float, TypeEngine

_Convert = Callable[[Any], Any]
_Conversion = tuple[int, _Convert, _Convert, frozenset[Any] | None]
_Compiled = tuple[str, tuple[str, ...], Callable[[Sequence[Any]], Any] | None,
                  tuple[Any, ...], tuple[_Conversion, ...]]
_many: dict[tuple[UpdateBase, str, tuple[str, ...]], _Compiled] = {}
"""For each statement, dialect and parameter names: the driver's SQL, its parameters' names
in its order, what picks them from a row of values in the names' order followed by the values
the statement holds itself (a literal in its WHERE clause; None when a row is already in the
driver's order), those values, and the conversions of the values by position: a lookup that
raises KeyError for a value it does not know, the column type's bind processor, which
converts it (or raises its own error), and the values the driver takes as they are, binding
them as the conversion would (None: every value is converted)."""


def _compiled(conn: Connection, stmt: UpdateBase, names: tuple[str, ...]) -> _Compiled:
    dialect = conn.dialect
    key = (stmt, dialect.name, names)  # the statement itself: kept alive
    found = _many.get(key)
    if found is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        every = compiled.construct_params(dict.fromkeys(names))
        order = tuple(compiled.positiontup or ()) if compiled.positional else tuple(every)
        converts: list[_Conversion] = []
        for i, name in enumerate(order):
            impl = compiled.binds[name].type.dialect_impl(dialect)
            proc = impl.bind_processor(dialect)
            if proc is not None and not _stored_alike(impl, dialect):
                converts.append((i, _lookup(impl, proc), proc, _bound_alike(impl, proc,
                                                                             dialect)))
        own = tuple(n for n in order if n not in names)
        at = {name: i for i, name in enumerate((*names, *own))}
        pick = None if order == names else itemgetter(*(at[n] for n in order))
        found = _many[key] = (compiled.string, order, pick, tuple(every[n] for n in own),
                              tuple(converts))
    return found


def _stored_alike(impl: TypeEngine[Any], dialect: Dialect) -> bool:
    """Whether a value is stored the same converted or not: a ``Float`` column on SQLite,
    whose conversion makes a number a ``float`` (``to_float``), which the column's REAL
    affinity does itself as it stores the value (an ``int``, a ``bool``: the same REAL;
    ``None``: NULL; a ``float``: itself)."""
    return dialect.name == "sqlite" and isinstance(impl, Float)


def _bound_alike(impl: TypeEngine[Any], proc: _Convert,
                 dialect: Dialect) -> frozenset[Any] | None:
    """The values of a column that Python's SQLite driver may take as they are: for an
    ``Enum`` column, its members (bound through an adapter of the enum's class registered
    here, which gives what the conversion gives: the member's value), its values (strings:
    bound as they are, which the conversion leaves them) and ``None``; else None. Another
    value (a string the column does not know) is converted, so refused as before."""
    if (dialect.name != "sqlite" or dialect.driver != "pysqlite"
            or not isinstance(impl, Enum) or impl.enum_class is None):
        return None
    members = {m: proc(m) for m in impl.enum_class}
    if not all(type(v) is str for v in members.values()):
        return None
    dialect.loaded_dbapi.register_adapter(impl.enum_class, members.__getitem__)
    return frozenset((None, *members, *(v for v in impl.enums if proc(v) == v)))


def _lookup(impl: TypeEngine[Any], proc: _Convert) -> _Convert:
    """A conversion as fast as a dictionary's lookup where the type has few values (an
    ``Enum`` column: its members, their values and ``None``, each converted by ``proc``
    once), else ``proc`` itself. The lookup raises KeyError for any other value, which
    ``proc`` then converts or refuses."""
    if isinstance(impl, Enum) and impl.enum_class is not None:
        return {v: proc(v) for v in (None, *impl.enum_class, *impl.enums)}.__getitem__
    return proc


def _driver_rows(conn: Connection, found: _Compiled,
                 rows: Iterable[Sequence[Any]]) -> list[Any]:
    """The driver's parameters of each row of values; a converted value is converted a
    column at a time (``map`` of the lookup over the column), not a row at a time. A
    column whose values the driver all takes as they are is passed on unconverted."""
    _, order, pick, held, converts = found
    if held:
        rows = [(*row, *held) for row in rows]
    out: list[Any]
    if pick is None:  # the rows are in the driver's order
        out = rows if isinstance(rows, list) else list(rows)
    else:
        out = list(map(pick, rows))
        if len(order) == 1:  # itemgetter of one item gives the item
            out = [(value,) for value in out]
    if converts and out:
        needed = [(at, lookup, proc) for at, lookup, proc, as_they_are in converts
                  if as_they_are is None or not as_they_are.issuperset(map(itemgetter(at), out))]
        if needed:
            columns: list[Any] = list(zip(*out, strict=True))
            for at, lookup, proc in needed:
                try:
                    columns[at] = list(map(lookup, columns[at]))
                except KeyError:
                    columns[at] = list(map(proc, columns[at]))
            out = list(zip(*columns, strict=True))
    if conn.dialect.positional:
        return out
    return [dict(zip(order, row, strict=True)) for row in out]


def executemany_rows(conn: Connection, stmt: UpdateBase, names: tuple[str, ...],
                     rows: Iterable[Sequence[Any]]) -> None:
    """Run ``stmt`` once per row of values (in the order of ``names``, its parameters) as one
    executemany of the driver, with the statement's SQL compiled once: SQLAlchemy's own
    executemany of a Core statement builds and converts every row's parameters in Python
    (most of a simulated run's commit). The values go through the same conversions (a column
    type's bind processor: a state to its string), so the rows written are the same; but
    where the driver or the database does the same itself (on SQLite: a ``Float`` column's,
    a state of the column's enum), the values are passed on as they are. Rows given as
    tuples in the driver's order are passed on as they are."""
    found = _compiled(conn, stmt, names)
    _run(conn, found[0], _driver_rows(conn, found, rows), many=True)


def executemany(conn: Connection, stmt: UpdateBase, params: list[dict[str, Any]]) -> None:
    """:func:`executemany_rows` of sets of parameters by name (all with the same names)."""
    names = tuple(params[0])
    get = itemgetter(*names)
    executemany_rows(conn, stmt, names, list(map(get, params)) if len(names) > 1
                     else [(get(p),) for p in params])


def execute(conn: Connection, stmt: UpdateBase, params: dict[str, Any]) -> int:
    """Run ``stmt`` once with ``params``, as :func:`executemany` runs it for each of its
    sets; the number of rows it matched."""
    names = tuple(params)
    found = _compiled(conn, stmt, names)
    [row] = _driver_rows(conn, found, [tuple(params[n] for n in names)])
    return _run(conn, found[0], row, many=False)


def commit(conn: Connection) -> None:
    """Commit the transaction of ``conn``'s driver connection (the driver begins the next one
    with the next statement that writes, as after SQLAlchemy's own commit); a driver's error is
    raised as SQLAlchemy's exception for it. ``conn``'s own record of its transaction is left
    as it is: for :meth:`hvroll.store.Store.commit`, which ends the session's only when it has
    something of its own in it."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
    except dbapi.Error as exc:
        raise DBAPIError.instance("COMMIT", None, exc, dbapi.Error,
                                  dialect=conn.dialect) from exc


def _run(conn: Connection, sql: str, params: Any, *, many: bool) -> int:
    """Run ``sql`` on a cursor of ``conn``'s driver connection (in the transaction ``conn``
    has begun), made by the driver connection itself (the pool's wrapper of the connection
    only calls it); the number of rows it matched."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return int(cursor.rowcount)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect,
                                  ismulti=many) from exc
    finally:
        cursor.close()
