"""A small XDF 1.0 writer for tests (LabRecorder's file format; LabRecorder itself is not available here).

Writes the chunk layout of the XDF specification (github.com/sccn/xdf):
magic `XDF:`, then chunks `[NumLengthBytes][Length][Tag u16][Content]` with
FileHeader (1), StreamHeader (2), Samples (3), ClockOffset (4), Boundary (5)
and StreamFooter (6). Stream headers can be the very XML a live LSL inlet
reports (`inlet.info().as_xml()`), as LabRecorder writes them, or built here.
Files are read back with pyxdf in the tests, so a mistake here shows up there.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

import numpy as np

BOUNDARY_UUID = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F,
                       0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
_NUMERIC = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}


def varlen(n: int) -> bytes:
    """XDF variable-length integer: one byte saying 1, 4 or 8, then the value little-endian."""
    if n < 0:
        raise ValueError("negative length")
    if n < 256:
        return bytes([1, n])
    if n < 2 ** 32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def stream_header_xml(*, name: str, type_: str, channel_count: int, nominal_srate: float, channel_format: str,
                      source_id: str = "", channels: Sequence[dict[str, str]] = (), desc_extra: str = "") -> str:
    """A stream header like liblsl's `as_xml()` (the subset pyxdf and holdsense read)."""
    chs = "".join("<channel>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in ch.items()) + "</channel>"
                  for ch in channels)
    desc = (f"<channels>{chs}</channels>" if chs else "") + desc_extra
    return ('<?xml version="1.0"?><info>'
            f"<name>{escape(name)}</name><type>{escape(type_)}</type>"
            f"<channel_count>{channel_count}</channel_count><nominal_srate>{nominal_srate!r}</nominal_srate>"
            f"<channel_format>{channel_format}</channel_format><source_id>{escape(source_id)}</source_id>"
            "<version>1.1</version><created_at>0</created_at><uid>test</uid><session_id>default</session_id>"
            f"<hostname>localhost</hostname><desc>{desc}</desc></info>")


def _xml_field(xml: str, tag: str) -> str:
    a = xml.find(f"<{tag}>")
    b = xml.find(f"</{tag}>")
    return xml[a + len(tag) + 2:b] if a >= 0 and b > a else ""


class XdfWriter:
    """Write an XDF file chunk by chunk; use as a context manager."""

    def __init__(self, path: str | Path, *, datetime: str = "2026-11-24T10:00:00+0000") -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")
        self._fh.write(b"XDF:")
        self._formats: dict[int, tuple[str, int]] = {}
        self._stats: dict[int, list[Any]] = {}
        self._chunk(1, f'<?xml version="1.0"?><info><version>1.0</version><datetime>{datetime}</datetime></info>'
                    .encode())

    def _chunk(self, tag: int, content: bytes) -> None:
        self._fh.write(varlen(len(content) + 2) + struct.pack("<H", tag) + content)

    def add_stream(self, stream_id: int, header_xml: str) -> None:
        """Declare a stream (its header XML names its channel format and count)."""
        fmt = _xml_field(header_xml, "channel_format")
        nch = int(_xml_field(header_xml, "channel_count"))
        self._formats[stream_id] = (fmt, nch)
        self._stats[stream_id] = [None, None, 0, []]
        self._chunk(2, struct.pack("<I", stream_id) + header_xml.encode("utf-8"))

    def write_samples(self, stream_id: int, stamps: Sequence[float | None], values: Any) -> None:
        """A Samples chunk. `values`: (n, channels) numbers, or n lists of strings. A stamp of None is
        written without a time stamp (the reader deduces it from the nominal rate)."""
        fmt, nch = self._formats[stream_id]
        parts = [struct.pack("<I", stream_id), varlen(len(stamps))]
        if fmt == "string":
            rows = [list(v) if isinstance(v, (list, tuple)) else [v] for v in values]
        else:
            arr = np.asarray(values, dtype=_NUMERIC[fmt]).reshape(len(stamps), nch)
        for k, ts in enumerate(stamps):
            parts.append(b"\x00" if ts is None else b"\x08" + struct.pack("<d", float(ts)))
            if fmt == "string":
                for text in rows[k]:
                    b = str(text).encode("utf-8")
                    parts.append(varlen(len(b)) + b)
            else:
                parts.append(arr[k].tobytes())
        self._chunk(3, b"".join(parts))
        st = self._stats[stream_id]
        real = [float(t) for t in stamps if t is not None]
        if real:
            st[0] = real[0] if st[0] is None else st[0]
            st[1] = real[-1]
        st[2] += len(stamps)

    def write_clock_offset(self, stream_id: int, collection_time_s: float, offset_s: float) -> None:
        """A ClockOffset chunk: the stream's clock is `offset_s` behind the recorder's at that time."""
        self._stats[stream_id][3].append((collection_time_s, offset_s))
        self._chunk(4, struct.pack("<I", stream_id) + struct.pack("<d", collection_time_s)
                    + struct.pack("<d", offset_s))

    def write_boundary(self) -> None:
        self._chunk(5, BOUNDARY_UUID)

    def close(self) -> None:
        if self._fh.closed:
            return
        for sid, (first, last, count, offsets) in self._stats.items():
            offs = "".join(f"<offset><time>{t!r}</time><value>{v!r}</value></offset>" for t, v in offsets)
            xml = (f'<?xml version="1.0"?><info><first_timestamp>{first or 0.0!r}</first_timestamp>'
                   f"<last_timestamp>{last or 0.0!r}</last_timestamp><sample_count>{count}</sample_count>"
                   f"<clock_offsets>{offs}</clock_offsets></info>")
            self._chunk(6, struct.pack("<I", sid) + xml.encode("utf-8"))
        self._fh.close()

    def __enter__(self) -> "XdfWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
