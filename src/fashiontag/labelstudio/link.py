"""Where a Label Studio server is and how to fetch a task's image from it (for the ML backend).

Label Studio sends task data with image URLs such as ``/data/local-files/?d=photos/a.jpg`` or
``/data/upload/3/a.jpg``: relative to its own host, readable with the API token. ``/setup`` tells the backend
that host and a token; ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY`` (passed in by the CLI) are the fallback.
The token is sent only to that host, never to third-party image URLs.

Example:
    >>> LabelStudioLink("http://127.0.0.1:8080", "t0k").resolve("/data/upload/1/a.jpg")
    'http://127.0.0.1:8080/data/upload/1/a.jpg'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ImageFetchError(Exception):
    """A task's image could not be fetched (bad URL, HTTP error, too large); the reason is the message."""


@dataclass
class LabelStudioLink:
    """Label Studio's base URL and API token (legacy ``Token`` auth), updated by ``/setup``."""

    url: str | None = None
    api_key: str | None = None

    def update(self, hostname: str | None, access_token: str | None) -> None:
        """Take what ``/setup`` sent; empty values keep the configured ones."""
        self.url = hostname or self.url
        self.api_key = access_token or self.api_key

    def resolve(self, value: str) -> str:
        """An absolute URL for a task's image value."""
        if value.startswith(("http://", "https://")):
            return value
        if value.startswith("/"):
            if not self.url:
                raise ImageFetchError(
                    f"{value}: relative URL but no Label Studio URL known "
                    "(set LABEL_STUDIO_URL or connect the backend from Label Studio)"
                )
            return self.url.rstrip("/") + value
        raise ImageFetchError(f"{value[:80]!r}: not an http(s) URL or a Label Studio path")

    def headers_for(self, url: str) -> dict[str, str]:
        if self.api_key and self.url and url.startswith(self.url.rstrip("/") + "/"):
            return {"Authorization": f"Token {self.api_key}"}
        return {}

    async def fetch_many(
        self, values: list[Any], max_bytes: int, timeout_s: float = 10.0, concurrency: int = 8
    ) -> list[bytes | ImageFetchError]:
        """The image bytes behind each task image value, in order; a failure is its :class:`ImageFetchError`
        (one bad URL must not cost the whole batch). At most ``concurrency`` downloads run at once."""
        import asyncio

        import httpx

        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client:

            async def one(value: Any) -> bytes | ImageFetchError:
                async with gate:
                    try:
                        return await self._fetch(client, value, max_bytes)
                    except ImageFetchError as exc:
                        return exc

            return list(await asyncio.gather(*(one(v) for v in values)))

    async def _fetch(self, client: Any, value: Any, max_bytes: int) -> bytes:
        import httpx

        if not isinstance(value, str) or not value:
            raise ImageFetchError("task has no image value")
        url = self.resolve(value)
        try:
            async with client.stream("GET", url, headers=self.headers_for(url)) as response:
                if response.status_code != 200:
                    raise ImageFetchError(f"{url}: HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise ImageFetchError(f"{url}: larger than {max_bytes} bytes")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise ImageFetchError(f"{url}: {type(exc).__name__}: {exc}") from None
