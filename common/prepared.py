"""Reads and inserts on the redemption's hot path, compiled by the ORM once and run again with new values.

Building a queryset and compiling it to SQL costs more Python than running it: on a redemption unit, most of
its Python was the ORM turning the same handful of querysets into the same SQL again and again. A
`PreparedRead` asks the ORM for the SQL once (per database connection vendor), finds where each parameter
sits in it (by compiling with two samples that differ in that parameter only), and afterwards sends that SQL
with the new values and turns the rows into what the queryset would have returned (model instances with
their select_related rows and annotations, or values_list tuples) through the same compiler's converters.
The SQL is the ORM's own, so both databases get the statement the queryset would have sent.

`insert_new` is the same for an insert: its SQL built once per model, its values prepared as a save would.

Only queries whose shape does not depend on the values qualify (a different shape is a different
PreparedRead), with parameters of the types `_adapt` knows; anything else fails at the first compile.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models.query import ValuesListIterable, get_related_populators

_ALT = {int: lambda v: v + 7919, str: lambda v: v + "~alt", uuid.UUID: lambda v: uuid.UUID(int=(v.int + 1) % 2**128)}


class PreparedRead:
    def __init__(self, build: Callable[..., Any], **samples: Any) -> None:
        self.build = build
        self.samples = samples
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __call__(self, **params: Any) -> list:
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(connection.vendor) or _Compiled(self.build, self.samples)
                self._compiled[connection.vendor] = compiled
        return compiled.run(params)

    def first(self, **params: Any):
        rows = self(**params)
        return rows[0] if rows else None


class _Compiled:
    def __init__(self, build: Callable[..., Any], samples: dict[str, Any]) -> None:
        queryset = build(**samples)
        self.sql, base = _sql(queryset)
        self.positions: dict[str, list[int]] = {}
        self.kinds: dict[int, Callable[[Any], Any]] = {}
        for name, sample in samples.items():
            other = _ALT[type(sample)](sample)
            sql, varied = _sql(build(**(samples | {name: other})))
            if sql != self.sql or len(varied) != len(base):
                raise ValueError(f"The query's SQL depends on the value of {name!r}: it cannot be prepared.")
            spots = [i for i, (a, b) in enumerate(zip(base, varied, strict=True)) if a != b]
            if not spots:
                raise ValueError(f"Parameter {name!r} does not appear in the query.")
            self.positions[name] = spots
            for i in spots:
                self.kinds[i] = _adapt(sample, base[i])
        self.fixed = list(base)
        self.query = queryset.query
        self.compiler = queryset.query.get_compiler(queryset.db)
        self.compiler.as_sql()  # sets up select, klass_info and the annotation columns
        self.values_list = issubclass(queryset._iterable_class, ValuesListIterable)
        self.db = queryset.db

    def run(self, params: dict[str, Any]) -> list:
        values = list(self.fixed)
        for name, spots in self.positions.items():
            for i in spots:
                values[i] = self.kinds[i](params[name])
        with connection.cursor() as cursor:
            cursor.execute(self.sql, values)
            rows = cursor.fetchall()
        compiler = self.compiler
        if self.values_list:
            return list(compiler.results_iter([rows], tuple_expected=True))
        return self._instances(compiler.results_iter([rows]))

    def _instances(self, rows) -> list:
        compiler = self.compiler
        select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model_cls = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [f[0].target.attname for f in select[start:end]]
        populators = get_related_populators(klass_info, select, self.db)
        objects = []
        for row in rows:
            obj = model_cls.from_db(self.db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for attr, position in annotation_col_map.items():
                setattr(obj, attr, row[position])
            objects.append(obj)
        return objects


def _sql(queryset) -> tuple[str, tuple]:
    compiler = queryset.query.get_compiler(queryset.db)
    sql, params = compiler.as_sql()
    return sql, tuple(params)


def _adapt(sample: Any, prepared: Any) -> Callable[[Any], Any]:
    """How a value becomes the parameter the ORM would have sent, learned from the sample's."""
    if prepared == sample and type(prepared) is type(sample):
        return lambda value: value
    if prepared == sample and isinstance(prepared, type(sample)):  # e.g. psycopg's Int4 for an int lookup
        wrapper = type(prepared)
        return lambda value: wrapper(value)
    if isinstance(sample, uuid.UUID) and prepared == sample.hex:  # SQLite stores uuids as hex text
        return lambda value: (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).hex
    if isinstance(sample, uuid.UUID) and prepared == sample:
        return lambda value: value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    raise ValueError(f"Cannot prepare a parameter like {sample!r} (sent as {prepared!r}).")


# --- inserts ---------------------------------------------------------------------------------------------------

_INSERTS: dict[tuple, tuple[str, list]] = {}


def insert_new(instance, *, on_conflict_do_nothing: bool = False) -> bool:
    """Insert a new model instance in one statement whose SQL is built once per model: `Model.objects.create`
    without the per-call query compile and without signals (a model with history has its row written by the
    caller: see forced_redemptions/services/attempts.py). Fields get their defaults and `auto_now` values
    (`pre_save`) and their database form (`get_db_prep_save`) exactly as a save would. `on_conflict_do_nothing`:
    a row a unique constraint already holds is not inserted, and nothing is aborted. Whether it was inserted.
    """
    model = type(instance)
    meta = model._meta
    numbered = meta.auto_field is not None and getattr(instance, meta.auto_field.attname) is None
    key = (connection.vendor, model, on_conflict_do_nothing, numbered)
    if key not in _INSERTS:
        fields = [f for f in meta.concrete_fields if not f.generated]
        if numbered:
            fields = [f for f in fields if f is not meta.auto_field]  # the database numbers it
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if on_conflict_do_nothing:
            sql += " ON CONFLICT DO NOTHING"
        sql += f" RETURNING {quote(meta.pk.column)}"
        _INSERTS[key] = (sql, fields)
    sql, fields = _INSERTS[key]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    if instance.pk is None:
        instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True
