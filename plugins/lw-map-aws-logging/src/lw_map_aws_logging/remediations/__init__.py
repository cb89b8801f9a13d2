"""The remediations of lw-map-aws-logging, one module per rule family."""
