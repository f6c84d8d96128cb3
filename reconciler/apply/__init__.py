"""Apply: execute exactly a plan against a store, in one transaction, or nothing at all."""
