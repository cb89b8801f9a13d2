"""The HTTP side (aiohttp): the webhook, health and metrics, the admin API, sweeps."""
