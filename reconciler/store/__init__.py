"""Store: the narrow port (``port``) every backend implements, the backends, and the audit chain.

Only this package knows SQL.  The rest of the package speaks to ``port.Store`` and opens a
store with ``backends.open_store``; ``sqlite``, ``postgresql``, ``sql`` and ``tables`` are
imported by nothing outside this folder (an import-linter contract keeps it so).
"""
