"""Plan: from checked declarations and the stored state to one immutable plan.

Canonical desired state, the diff, safety gates, the authority matrix, incremental
skipping, the planning pipeline (one enterprise at a time, on every core) and saved plans.
"""
