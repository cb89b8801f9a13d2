"""One module per remediation (or per family of rules sharing one engine)."""
