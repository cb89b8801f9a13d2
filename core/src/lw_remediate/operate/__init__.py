"""What operators do to a running installation: control (approve, reject, undo,
exemptions, the kill switch), preflight checks, and sweeps over compliance reports."""
