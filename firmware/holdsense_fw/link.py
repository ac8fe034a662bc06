# One link to a host (USB serial now, BLE later): its own frame sequence number,
# its own bounded sample queue and an outbox of control frames. Transport tasks
# take control frames (take_control) and encode sample batches straight from the
# queue into the link's frame buffer (encode_batch), so every link speaks exactly
# the same frames and the per-sample path allocates nothing (firmware/README.md).
import struct

from .frame import (Deframer, HEADER_LEN, MAX_DELTA_US, MAX_FRAME, SAMPLES_HEAD, T_SAMPLES, crc16, encode_ack,
                    encode_error, encode_frame, max_batch)
from .sampler import SampleQueue

OUTBOX_MAX = 32
_NONE = ()  # take_control's answer when there is nothing (no new list)
_LO_MASK = 0x3FFFFFFF  # SampleQueue keeps wide µs as (t >> 30, t & (2^30 - 1)); 2^30 itself is a long int


class Link:
    def __init__(self, name, queue_len=256, has_angle=False):
        self.name = name              # "usb" or "ble": commands check it (BLE may not write calibration)
        self.queue = SampleQueue(queue_len)
        self.has_angle = has_angle
        self.seq = 0
        self.out = []
        self.deframer = Deframer()    # serial links only; BLE gets whole frames
        self.outbox_dropped = 0
        self.wake = None              # a flag the link's tx task waits on (BLE): set when a frame is queued
        self.fbuf = bytearray(MAX_FRAME + 4)  # one raw frame (+ room for a 4-byte pack at its end)
        self.last_batch = 0           # samples in the last encode_batch
        self._views = {}              # frame length -> memoryview of fbuf (made once per length)
        self.closed = False           # after EXIT's ACK: nothing more is queued (close())

    @property
    def streaming(self):
        return self.queue.enabled

    def _next_seq(self):
        s = self.seq
        self.seq = (s + 1) & 0xFFFF
        return s

    def close(self):
        """The last frame is queued (EXIT's ACK: the MicroPython REPL gets the port next): stop
        streaming, drop the queued samples, and queue no frame from now on."""
        self.queue.enabled = False
        self.queue.clear()
        self.closed = True

    def send(self, ftype, payload=b""):
        """Queue a control frame (INFO, STATUS, TEXT...)."""
        if self.closed:
            return
        if len(self.out) >= OUTBOX_MAX:
            self.out.pop(0)
            self.outbox_dropped += 1
        self.out.append(encode_frame(ftype, self._next_seq(), payload))
        if self.wake is not None:
            self.wake.set()

    def ack(self, cmd_seq, cmd, result=b""):
        if self.closed:
            return
        self.out.append(encode_ack(self._next_seq(), cmd_seq, cmd, result))
        if self.wake is not None:
            self.wake.set()

    def error(self, cmd_seq, cmd, code, message):
        if self.closed:
            return
        self.out.append(encode_error(self._next_seq(), cmd_seq, cmd, code, message))
        if self.wake is not None:
            self.wake.set()

    def take_control(self):
        """The queued control frames (a list, oldest first), or an empty tuple: no list is
        made when there are none (the steady state)."""
        frames = self.out
        if not frames:
            return _NONE
        self.out = []
        return frames

    def take_frames(self, max_samples=64):
        """Raw frames ready to send now: control frames first, then sample batches (copies:
        for tests and tools; the transmit tasks use take_control + encode_batch)."""
        frames = list(self.take_control())
        while max_samples > 0 and self.queue.count:
            n = self.encode_batch(max_samples)
            frames.append(bytes(self.fbuf[:n]))
            max_samples -= self.last_batch
        return frames

    def make_views(self):
        """Make the memoryviews of every SAMPLES frame length now (a BLE link notifies them), so
        none is first made mid-stream."""
        rl = 11 if self.has_angle else 7
        for k in range(1, max_batch(self.has_angle) + 1):
            self.view(HEADER_LEN + SAMPLES_HEAD + k * rl + 2)

    def view(self, n):
        """A memoryview of the first n bytes of the frame buffer (cached: no allocation after the first)."""
        v = self._views.get(n)
        if v is None:
            v = self._views[n] = memoryview(self.fbuf)[:n]
        return v

    def encode_batch(self, max_n):
        """Encode the oldest queued samples - at most max_n and max_batch, consecutive indices,
        deltas that fit u24 - as one SAMPLES frame into self.fbuf and drop them from the queue.
        Returns the frame's length (0: nothing queued); self.last_batch = samples taken.
        Fields are packed in place; the wide times are read as (hi, lo) small ints, so nothing
        is allocated on MicroPython at any uptime (while the index is below 2^30: 155 days at 80 SPS)."""
        q = self.queue
        cnt = q.count
        has_angle = self.has_angle
        cap = max_batch(has_angle)
        if max_n < cap:
            cap = max_n
        if cnt < cap:
            cap = cnt
        if cap <= 0:
            self.last_batch = 0
            return 0
        rl = 11 if has_angle else 7
        buf = self.fbuf
        pack = struct.pack_into
        qcap = q.cap
        j = q.head
        idx0 = q.idx[j]
        phi = q.t_hi[j]
        plo = q.t_lo[j]
        o = HEADER_LEN + SAMPLES_HEAD
        n = 0
        while n < cap:
            hi = q.t_hi[j]
            lo = q.t_lo[j]
            if n:
                if q.idx[j] - idx0 != n and q.idx[j] != ((idx0 + n) & 0xFFFFFFFF):  # (the u32 wrap)
                    break  # missed conversions or drops before it: a new batch says its index
                dh = hi - phi
                if dh == 0:
                    d = lo - plo
                elif dh == 1 and lo < plo:
                    d = lo - plo + _LO_MASK + 1  # across a multiple of 2^30: small ints all the way
                else:
                    break  # 2^30 µs or more: cannot be a u24 delta
                if d < 0:
                    raise ValueError("sample delta out of range")
                if d > MAX_DELTA_US:
                    break
            else:
                d = 0
            pack("<I", buf, o, d)
            pack("<I", buf, o + 3, q.raw[j] & 0xFFFFFF)
            buf[o + 6] = q.flags[j]
            if has_angle:
                pack("<i", buf, o + 7, q.angle[j])
            o += rl
            phi = hi
            plo = lo
            n += 1
            j += 1
            if j >= qcap:
                j = 0
        # header: type, seq, layout, n, first_index u32, t0 u32 (the low 32 bits of the wide µs,
        # written as two u16 so no value needs more than 30 bits)
        j = q.head
        hi = q.t_hi[j]
        lo = q.t_lo[j]
        pack("<BHBB", buf, 0, T_SAMPLES, self._next_seq(), 1 if has_angle else 0, n)
        pack("<HH", buf, 5, idx0 & 0xFFFF, idx0 >> 16)
        pack("<HH", buf, 9, lo & 0xFFFF, (lo >> 16) | ((hi & 3) << 14))
        pack("<H", buf, o, crc16(buf, 0xFFFF, o))
        q.drop_front(n)
        self.last_batch = n
        return o + 2

    @staticmethod
    def max_batch(has_angle):
        return max_batch(has_angle)
