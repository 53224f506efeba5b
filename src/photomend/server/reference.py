"""``GET /docs``: the HTTP API's reference as one plain HTML page, made from the OpenAPI schema.

FastAPI's own ``/docs`` (Swagger UI) loads its scripts from a CDN, which an offline machine or a
strict Content-Security-Policy cannot reach; this page needs nothing but the server. Every
route with its summary, parameters, form fields and file parts, and a link to
``/openapi.json`` for tools.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f2f2f2;padding:0 .2em}h2{margin-top:2rem;font-size:1.05rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;
text-align:left;vertical-align:top}.m{font-weight:bold;text-transform:uppercase}"""


def reference_page(schema: dict[str, Any]) -> str:
    """The HTML reference of ``schema`` (an OpenAPI 3 document as FastAPI builds it).

    >>> page = reference_page({"info": {"title": "t", "version": "1"}, "paths": {
    ...     "/v1/x": {"get": {"summary": "Get x", "parameters": [
    ...         {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]}}}})
    >>> "<code>/v1/x</code>" in page and "Get x" in page and "<td>id</td>" in page
    True
    """
    info = schema.get("info", {})
    out = [f"<!doctype html><meta charset=utf-8><title>{escape(info.get('title', 'API'))} API"
           f"</title><style>{_STYLE}</style>",
           f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))} "
           "HTTP API</h1>",
           f"<p>{escape(info.get('description', ''))}</p>",
           "<p>The machine-readable schema: <a href=/openapi.json><code>/openapi.json</code></a> "
           "(OpenAPI 3; load it into any OpenAPI viewer or client generator). Errors are JSON "
           "bodies with <code>error</code> and <code>message</code>.</p>"]
    components = schema.get("components", {}).get("schemas", {})
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            out.append(f"<h2><span class=m>{escape(method)}</span> <code>{escape(path)}</code>"
                       f"</h2><p>{escape(op.get('summary', ''))}</p>")
            desc = op.get("description")
            if desc and desc != op.get("summary"):
                out.append(f"<p>{escape(desc)}</p>")
            rows = [(p["name"], p.get("in", ""), p.get("required", False),
                     _type(p.get("schema", {}), components), p.get("description", ""))
                    for p in op.get("parameters", [])]
            rows += _body_rows(op.get("requestBody"), components)
            if rows:
                out.append("<table><tr><th>name<th>in<th>required<th>type<th>meaning")
                out += [f"<tr><td>{escape(n)}</td><td>{escape(w)}</td><td>{'yes' if r else ''}"
                        f"</td><td>{escape(t)}</td><td>{escape(d)}</td>"
                        for n, w, r, t, d in rows]
                out.append("</table>")
            codes = ", ".join(op.get("responses", {}))
            if codes:
                out.append(f"<p>Responses: {escape(codes)}</p>")
    return "\n".join(out) + "\n"


def _body_rows(body: dict | None, components: dict) -> list[tuple[str, str, bool, str, str]]:
    if not body:
        return []
    rows = []
    for media, content in body.get("content", {}).items():
        where = "file part" if "multipart" in media else "body"
        schema = _resolve(content.get("schema", {}), components)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = _resolve(prop, components)
            kind = "file" if prop.get("format") == "binary" else _type(prop, components)
            part = where if kind == "file" else ("form field" if "multipart" in media else where)
            rows.append((name, part, name in required, kind, prop.get("description", "")))
    return rows


def _resolve(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _type(schema: dict, components: dict) -> str:
    schema = _resolve(schema, components)
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    if "anyOf" in schema:
        return " or ".join(_type(s, components) for s in schema["anyOf"])
    kind = schema.get("type", "")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), components)}"
    return kind
