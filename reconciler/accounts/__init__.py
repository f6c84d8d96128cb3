"""Accounts: what happens to a person after apply declared them.

Access codes and their delivery, argon2id passwords, the account's lifecycle (pending,
expired, active, deactivated), the first login, and what a signed-in person administers.
"""
