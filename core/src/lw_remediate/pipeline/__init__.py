"""The pipeline: inbox -> enrich -> match -> gate -> run -> record/notify.

:mod:`.engine` is the facade the web app, the CLI and the sweep drive; :mod:`.runner`
runs one remediation's check -> plan -> apply -> verify with its before-image.
"""
