"""The HTTP layer: the default httpx pool tuning, the deadline backend and the aiohttp adapter."""
