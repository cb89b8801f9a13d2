"""One module per remediation of lw-map-aws-activity."""
