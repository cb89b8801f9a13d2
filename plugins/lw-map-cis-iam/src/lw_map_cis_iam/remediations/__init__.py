"""One module per remediation; each exposes ``REMEDIATION``."""
