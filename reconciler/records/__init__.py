"""The vocabulary every stage speaks: records keyed by address, and changes to them.

Declared YAML and stored rows are both turned into these records, so the differ compares
like with like; the store executes changes to them; renderers show them.  Nothing here
depends on any other part of the package.
"""
