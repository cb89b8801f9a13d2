"""The pipeline: inbox -> enrich -> match -> gate -> run -> record/notify.

:mod:`.engine` is the facade the web app, the CLI and the sweep drive; :mod:`.enrich`
reads an alert's resources from the Lacework API; :mod:`.runner` runs one remediation's
check -> plan -> apply -> verify with its before-image; :mod:`.worker` supervises the
inbox worker; :mod:`.replay` runs saved payloads once. The gates themselves are in
:mod:`lw_remediate.safety.gates`.
"""
