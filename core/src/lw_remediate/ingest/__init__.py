"""Ingest: what Lacework sends and what its API answers, turned into violations.

- :mod:`.body`: a received body read strictly (UTF-8 JSON, bounded depth, real text);
- :mod:`.alerts`: every inbound payload shape normalised into one :class:`Alert`;
- :mod:`.lacework`: the REST client (tokens, retries, alert details, reports);
- :mod:`.details` and :mod:`.reports`: the parsers of the API's answers;
- :mod:`.fields`: the case-insensitive field readers they share.
"""
