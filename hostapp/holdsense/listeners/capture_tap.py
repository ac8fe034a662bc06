"""The capture tap: records every byte crossing the link into a `holdsense-capture/1` file while
`holdsense record --capture` runs (docs/capture.md).

`Device(on_transport=writer.attach_transport)` puts it on every transport
the device opens (reconnects included); it is also a `Listener` (device
info, gaps, link errors as notes). The file format itself (records, gzip
sync flushes, END) is `holdsense.io.capture.CaptureFileWriter`.
"""
from __future__ import annotations

from typing import Any

from ..io.capture import K_DEVICE, K_LINK_CLOSED, K_LINK_OPEN, K_NOTE, K_RX, K_TX, CaptureFileWriter, _json
from ..messages import Listener


class CaptureWriter(CaptureFileWriter, Listener):
    """Appends `holdsense-capture/1` records to `path` as bytes cross the link (see `CaptureFileWriter`
    for threading, flushing and `close(stats)`)."""

    # -- the link --
    def attach_transport(self, transport: Any) -> None:
        """A transport was opened (first connect or reconnect): note it and tap its bytes.

        Pass as `Device(on_transport=...)` / `open_device(args, on_transport=...)`,
        so the handshake is captured too.
        """
        packetized = bool(getattr(transport, "packetized", False))
        name = str(getattr(transport, "name", type(transport).__name__))
        info: dict[str, Any] = {"link": self.links, "transport": "ble" if name.startswith("ble") else "serial",
                                "name": name, "class": type(transport).__name__, "packetized": packetized}
        for attr in ("port", "address", "device_name", "mtu"):
            v = getattr(transport, attr, None)
            if isinstance(v, (str, int, float)):
                info[attr] = v
        with self._lock:
            if self._transport is not None:
                self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": "replaced"}))
            self._transport = transport
            self.links += 1
            self._record(K_LINK_OPEN, _json(info))
        transport.add_tap(self.tap)

    def tap(self, direction: str, data: bytes, host_time_s: float) -> None:
        """The transport tap: one RX record per chunk received, one TX record per write."""
        with self._lock:
            if direction == "rx":
                self.rx_bytes += len(data)
                self._record(K_RX, bytes(data), host_time_s)
            else:
                self.tx_bytes += len(data)
                self._record(K_TX, bytes(data), host_time_s)

    # -- Listener: what the host made of it (informative; replay uses the bytes) --
    def on_info(self, info: dict[str, Any]) -> None:
        self.write_record(K_DEVICE, info)

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        self.write_record(K_NOTE, {"event": "gap", "t_s": t_s, "reason": reason, "lost_samples": lost_samples})

    def on_status(self, status: dict[str, Any]) -> None:
        if status.get("link_error"):
            with self._lock:
                self._record(K_NOTE, _json({"event": "link_lost", "error": status["link_error"]}))
                if self._transport is not None:
                    self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": status["link_error"]}))
                    self._transport = None

    def stop(self) -> None:
        """Listener end of stream: nothing (the owner calls `close(stats)` after the device is closed)."""

    def _before_end(self) -> None:
        if self._transport is not None:
            self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": "closed"}))
            self._transport = None

    def __enter__(self) -> "CaptureWriter":
        return self
