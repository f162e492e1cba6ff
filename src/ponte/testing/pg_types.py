"""What PostgreSQL column type a BI user should see for each JSON Schema property, and what a table really has."""

from __future__ import annotations

from typing import Any


def expected_pg_type(prop: dict[str, Any]) -> str:
    """The PostgreSQL type target-postgres must create for a JSON Schema property."""
    types = prop.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    types.discard("null")
    if not types or types & {"object", "array"}:
        return "jsonb"
    if types == {"integer"}:
        return "bigint"
    if types <= {"integer", "number"}:
        return "numeric"
    if types == {"boolean"}:
        return "boolean"
    if types == {"string"}:
        return {"date": "date", "date-time": "timestamp with time zone"}.get(prop.get("format"), "text")
    return "text"


def mistyped_columns(conn: Any, schema: str, catalog: dict[str, dict[str, Any]]) -> list[str]:
    """Columns of `schema` whose type is not what their stream's JSON Schema asks for (via the column comments)."""
    columns = conn.execute(
        "SELECT c.table_name, c.data_type, col_description((quote_ident(c.table_schema) || '.' || "
        "quote_ident(c.table_name))::regclass, c.ordinal_position) "
        "FROM information_schema.columns c WHERE c.table_schema = %s AND c.column_name NOT LIKE '\\_sdc\\_%%'",
        (schema,),
    ).fetchall()
    wrong = []
    for table, data_type, comment in columns:
        source = comment.rsplit("source field: ", 1)[1].strip()
        if source not in catalog[table]:  # a field the tap kept although the declaration lacks it
            wrong.append(f"{table}.{source}: not in the catalog (add the property the tap inferred for it)")
            continue
        expected = expected_pg_type(catalog[table][source])
        if data_type != expected:
            wrong.append(f"{table}.{source}: {data_type}, expected {expected}")
    return wrong
