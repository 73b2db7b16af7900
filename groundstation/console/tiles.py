"""Raster tiles from an OSM-compatible URL, cached on disk, fetched without blocking the UI.

``{z}/{x}/{y}`` in the URL template are replaced per tile (``{s}`` by ``a``). Tiles are fetched
with QNetworkAccessManager (asynchronous, at most :data:`MAX_INFLIGHT` at a time) and kept as
files under the cache directory for :data:`CACHE_MAX_AGE_S`, which the OSM tile usage policy asks
of every client. After a few failures in a row the layer calls itself offline and waits before it
tries again; the offline base underneath stays visible the whole time.

The layer only keeps the pixmaps of the visible area; the map draws them into its cached static
layer and re-makes that layer when :attr:`TileLayer.changed` says the set of tiles changed.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from groundstation.console import mercator as m
from groundstation.console.qt import (
    QByteArray,
    QNetworkAccessManager,
    QNetworkReply,
    QNetworkRequest,
    QObject,
    QPixmap,
    QRectF,
    QUrl,
    pyqtSignal,
)

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "Map data © OpenStreetMap contributors (ODbL)"
USER_AGENT = b"dfr-groundstation-console/0.1 (+https://github.com/; operator console)"
MAX_INFLIGHT = 6
MAX_TILES = 96
CACHE_MAX_AGE_S = 7 * 24 * 3600
OFFLINE_AFTER_FAILURES = 4
OFFLINE_RETRY_S = 60.0

TileKey = tuple[int, int, int]


def resolve_url(spec: str | None) -> str | None:
    """``osm`` for OpenStreetMap's standard tiles, ``none`` / empty for the offline base only."""
    if spec is None or spec.strip().lower() in ("", "none", "off", "offline"):
        return None
    if spec.strip().lower() == "osm":
        return OSM_URL
    return spec


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dfr-groundstation" / "tiles"


def tile_rect(key: TileKey) -> QRectF:
    """The scene rectangle (Web Mercator metres) a tile covers."""
    z, x, y = key
    size = m.tile_size_m(z)
    return QRectF(*m.tile_origin(z, x, y), size, size)


class TileLayer(QObject):
    """Keeps the pixmaps of the tiles covering the visible area at the view's zoom level."""

    status_changed = pyqtSignal(str)
    changed = pyqtSignal()  # a tile came or went: the map re-makes its static layer

    def __init__(self, url: str, cache_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.url = url
        self.cache_dir = cache_dir / hashlib.sha1(url.encode()).hexdigest()[:12]
        self.nam = QNetworkAccessManager(self)
        self.pixmaps: dict[TileKey, QPixmap] = {}
        self.inflight: dict[TileKey, QNetworkReply] = {}
        self.queue: list[TileKey] = []
        self.failures = 0
        self.loaded = 0
        self.offline_until = 0.0
        self.status = "tiles: loading"

    @property
    def attribution(self) -> str:
        if "openstreetmap" in self.url:
            return OSM_ATTRIBUTION
        host = QUrl(self.url.replace("{", "").replace("}", "")).host()
        return f"Tiles: {host}"

    def _set_status(self, text: str) -> None:
        if text != self.status:
            self.status = text
            self.status_changed.emit(text)

    def _path(self, key: TileKey) -> Path:
        z, x, y = key
        return self.cache_dir / str(z) / str(x) / f"{y}.png"

    def show(self, rect: QRectF, z: int) -> None:
        """Keep exactly the tiles covering ``rect`` at zoom ``z``."""
        keys = [
            (z, x, y)
            for x, y in m.tiles_covering(rect.left(), rect.top(), rect.right(), rect.bottom(), z)
        ][:MAX_TILES]
        wanted = set(keys)
        gone = [k for k in self.pixmaps if k not in wanted]
        for key in gone:
            del self.pixmaps[key]
        if gone:
            self.changed.emit()
        for key in [k for k in self.inflight if k not in wanted]:
            self.inflight.pop(key).abort()
        self.queue = []
        for key in keys:
            if key in self.pixmaps or key in self.inflight:
                continue
            if not self._load_cached(key):
                self.queue.append(key)
        self._pump()

    def _load_cached(self, key: TileKey) -> bool:
        path = self._path(key)
        try:
            if time.time() - path.stat().st_mtime > CACHE_MAX_AGE_S:
                return False
        except OSError:
            return False
        pix = QPixmap(str(path))
        if pix.isNull():
            return False
        self._add(key, pix)
        return True

    def _add(self, key: TileKey, pix: QPixmap) -> None:
        self.pixmaps[key] = pix
        self.loaded += 1
        self.changed.emit()

    def _pump(self) -> None:
        if time.monotonic() < self.offline_until:
            return
        while self.queue and len(self.inflight) < MAX_INFLIGHT:
            key = self.queue.pop(0)
            z, x, y = key
            url = self.url.replace("{s}", "a").format(z=z, x=x, y=y)
            req = QNetworkRequest(QUrl(url))
            req.setRawHeader(QByteArray(b"User-Agent"), QByteArray(USER_AGENT))
            reply = self.nam.get(req)
            if reply is None:
                continue
            self.inflight[key] = reply
            reply.finished.connect(lambda k=key, r=reply: self._finished(k, r))

    def _finished(self, key: TileKey, reply: QNetworkReply) -> None:
        reply.deleteLater()
        if self.inflight.get(key) is reply:
            del self.inflight[key]
        err = reply.error()
        if err == QNetworkReply.NetworkError.OperationCanceledError:
            return
        if err != QNetworkReply.NetworkError.NoError:
            self.failures += 1
            if self.failures >= OFFLINE_AFTER_FAILURES:
                self.offline_until = time.monotonic() + OFFLINE_RETRY_S
                self.queue.clear()
                self._set_status("tiles: offline (base map only)")
            return
        data = bytes(reply.readAll().data())
        pix = QPixmap()
        if not pix.loadFromData(data):
            self.failures += 1
            return
        self.failures = 0
        self._set_status("tiles: online")
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError:
            pass  # a read-only cache only costs bandwidth
        self._add(key, pix)
        self._pump()

    def close(self) -> None:
        self.queue.clear()
        for reply in list(self.inflight.values()):
            reply.abort()
        self.inflight.clear()
