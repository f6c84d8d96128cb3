"""Declare: from YAML files to checked declarations, every problem with ``file:line:column``.

Reading (the fast path and the position-tracking reference loader), the JSON Schema and
the pydantic models of the format, the catalogue, Belgian identifiers, and the hierarchy
rules.  This stage never touches the store.
"""
