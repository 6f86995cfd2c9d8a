"""The dashboard's static files, read once into memory and served under a content version.

`/static/{version}/{name}`: `version` is a hash of every file, so a page always loads the assets
of the code that served it, and the browser may keep them for good (Cache-Control immutable).
Relative imports between the ES modules stay inside the versioned folder. A request for an old
version (a page cached before an upgrade) still gets the current file, but not cached.
Only the files shipped in the folder can be served: the name is a key, never a path.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


class Assets:
    def __init__(self, folder: Path = STATIC_DIR):
        self.files: dict[str, Asset] = {}
        digest = hashlib.sha256()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            body = path.read_bytes()
            media_type = MEDIA_TYPES.get(path.suffix) or (
                mimetypes.guess_type(name)[0] or "application/octet-stream"
            )
            self.files[name] = Asset(body, media_type)
            digest.update(name.encode() + b"\0" + body + b"\0")
        self.version = digest.hexdigest()[:12]
        self.prefix = f"/static/{self.version}"

    def response(self, version: str, name: str) -> Response:
        asset = self.files.get(name)
        if asset is None:
            return Response(f"no asset {name!r}", status_code=404, media_type="text/plain")
        cache = IMMUTABLE if version == self.version else REVALIDATE
        return Response(asset.body, media_type=asset.media_type, headers={"Cache-Control": cache})
