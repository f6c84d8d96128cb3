"""reconciler: access management as data for enterprise accounts on the social-security portal."""

__version__ = "0.1.0"
