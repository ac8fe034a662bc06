# Small compatibility layer: the same firmware code runs on MicroPython (the board,
# the WebAssembly port) and on CPython (tests, the virtual device). Firmware modules
# call compat.ticks_us() etc. at run time, so CPython can inject a clock with set_clock().
import time

try:
    import asyncio
except ImportError:  # older MicroPython
    import uasyncio as asyncio

try:
    from micropython import const  # noqa: F401
except ImportError:
    def const(x):
        return x

MICROPYTHON = hasattr(time, "ticks_us")
TICKS_PERIOD = 1 << 30  # ESP32's ticks_us period; CPython mimics it so the wrap is exercised

if MICROPYTHON:
    ticks_us = time.ticks_us
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
    sleep_us = time.sleep_us

    def set_clock(now_us, speed=1.0):
        raise RuntimeError("the clock is the board's")

    def sleep_ms(ms):
        return asyncio.sleep_ms(ms)

    sleep_blocking_ms = time.sleep_ms

else:
    _state = {"now_us": lambda: time.monotonic_ns() // 1000, "speed": 1.0}

    def set_clock(now_us, speed=1.0):
        """Inject a device clock (a function giving µs, any start) and how fast device time runs.

        WideClock must see a tick every half period. At 1x that is 9 minutes; a
        virtual device running 100x faster on a loaded host could miss it in a
        5 s stall and misplace time by a whole period, so the emulated period
        grows with the speed (the wrap is still crossed, just less often).
        """
        global TICKS_PERIOD
        _state["now_us"] = now_us
        _state["speed"] = float(speed)
        period = 1 << 30
        while period < (1 << 30) * float(speed) / 4:
            period <<= 1
        TICKS_PERIOD = period

    def ticks_us():
        return int(_state["now_us"]()) & (TICKS_PERIOD - 1)

    def ticks_ms():
        return (int(_state["now_us"]()) // 1000) & (TICKS_PERIOD - 1)

    def ticks_diff(a, b):
        d = (a - b) & (TICKS_PERIOD - 1)
        return d - TICKS_PERIOD if d >= TICKS_PERIOD // 2 else d

    def ticks_add(a, d):
        return (a + d) & (TICKS_PERIOD - 1)

    def sleep_us(us):
        # spin on the injected clock (bounded: a hand-driven test clock may stand still)
        t0 = ticks_us()
        n = 0
        while ticks_diff(ticks_us(), t0) < us and n < 100000:
            n += 1

    def sleep_blocking_ms(ms):
        time.sleep(ms / 1000.0 / _state["speed"])

    def sleep_ms(ms):
        """Awaitable sleep in device milliseconds (scaled by the injected speed)."""
        return asyncio.sleep(ms / 1000.0 / _state["speed"])

class _EventFlag:
    """asyncio.ThreadSafeFlag stand-in (CPython, ports without it): set() from a pin IRQ, await wait()."""

    def __init__(self):
        self._ev = None

    def _event(self):
        if self._ev is None:
            self._ev = asyncio.Event()
        return self._ev

    def set(self):
        self._event().set()

    def clear(self):
        self._event().clear()

    async def wait(self):
        ev = self._event()
        await ev.wait()
        ev.clear()


ThreadSafeFlag = getattr(asyncio, "ThreadSafeFlag", None) if MICROPYTHON else None
if ThreadSafeFlag is None:
    ThreadSafeFlag = _EventFlag


async def wait_for_ms(aw, ms):
    """asyncio.wait_for with a timeout in device milliseconds; raises asyncio.TimeoutError."""
    if MICROPYTHON:
        return await asyncio.wait_for_ms(aw, ms)
    return await asyncio.wait_for(aw, ms / 1000.0 / _state["speed"])


def run(coro):
    """asyncio.run where the port has it; the WebAssembly port (no asyncio.run: Python runs inside
    the JS event loop) gets a task that the caller awaits."""
    r = getattr(asyncio, "run", None)
    if r is not None:
        return r(coro)
    return asyncio.create_task(coro)


# ---- stream polling (select.poll on the board; the same protocol for CPython stand-ins) ----
POLLIN = 0x0001
POLLOUT = 0x0004
MP_STREAM_POLL = 3   # the ioctl request select.poll sends to a Python stream (io.IOBase subclass)


class _Poll:
    """select.poll for CPython: a stream with `ioctl(MP_STREAM_POLL, flags)` (MicroPython's
    protocol for Python-level streams, what the virtual device's strict USB stream offers)
    answers itself; anything else goes to the OS by fileno()."""

    def __init__(self):
        self._s = []

    def register(self, stream, flags=POLLIN | POLLOUT):
        self._s.append((stream, flags))

    def ipoll(self, timeout_ms=0):
        out = []
        for stream, flags in self._s:
            ioctl = getattr(stream, "ioctl", None)
            if ioctl is not None:
                ev = ioctl(MP_STREAM_POLL, flags)
            else:
                import select as _sel
                p = _sel.poll()
                p.register(stream, flags)
                ev = 0
                for _fd, e in p.poll(timeout_ms):
                    ev |= e
            if ev:
                out.append((stream, ev))
        return out

    poll = ipoll


def make_poll(stream, flags):
    """A poll object watching one stream for `flags` (POLLIN / POLLOUT)."""
    if MICROPYTHON:
        try:
            import select
            p = select.poll()
            p.register(stream, flags)
            return p
        except (ImportError, AttributeError, TypeError, OSError):
            pass
    p = _Poll()
    p.register(stream, flags)
    return p


def poll_method(p):
    """The poll object's ipoll (MicroPython: no list per call) or poll, bound once: pass it to
    poll_flags (a bound method made per call would be an allocation per call)."""
    return getattr(p, "ipoll", None) or p.poll


def poll_flags(p):
    """Ready flags of the one stream watched, without waiting. p: a poll object, or (no
    allocation) its poll_method."""
    ip = p if callable(p) else poll_method(p)
    for _obj, ev in ip(0):
        return ev
    return 0


T_LO_BITS = 30            # a wide time is kept as two small ints: hi = t >> 30, lo = t & T_LO_MASK
T_LO_MASK = 0x3FFFFFFF    # (MicroPython's small ints are 31-bit signed on 32-bit ports: a value of
                          # 2^30 or more is a long int, allocated on the heap; 2^30 µs is 17.9 min)


def diff_us(hi, lo, hi0, lo0):
    """µs from the wide time (hi0, lo0) to (hi, lo). A small int (no allocation on MicroPython)
    whenever the distance is below 2^30 µs (17.9 min); farther apart, a long int (a fault path:
    the sampler saw no conversion for that long)."""
    dh = hi - hi0
    if dh == 0:
        return lo - lo0
    if dh == 1 and lo < lo0:
        return lo - lo0 + T_LO_MASK + 1   # each step stays within the small-int range
    if dh == -1 and lo > lo0:
        return lo - lo0 - T_LO_MASK - 1
    return dh * (T_LO_MASK + 1) + lo - lo0


def elapsed_ms(hi, lo, hi0, lo0):
    """ms (floor) from (hi0, lo0) to (hi, lo) >= it, as a small int for up to ~12 days
    (2^30 µs = 1073741 ms + 824 µs), so windows of minutes or hours allocate nothing."""
    dh = hi - hi0
    if dh == 0 or (dh == 1 and lo < lo0):
        return diff_us(hi, lo, hi0, lo0) // 1000
    return dh * 1073741 + (dh * 824 + lo - lo0) // 1000


class WideClock:
    """Extends the wrapping ticks_us into a monotonic wide µs counter since construction (boot).

    The wide time is kept as two small ints (`hi`, `lo`: t = hi * 2^30 + lo), so following the
    clock allocates nothing on MicroPython however long the board runs; `stamp(t)` puts a tick
    value's wide time in `hi` / `lo` (the sampler's path), `wide(t)` returns it as one int (may be a
    long int past 2^30 µs: status, tests).

    Must see a tick at least every 2^29 µs (~9 min); the sampler feeds it every
    sample and the status task every second, so it never misses a wrap.
    """

    def __init__(self):
        self._last = ticks_us()
        self._hi = 0     # wide time of the last update
        self._lo = 0
        self.hi = 0      # result of the last stamp()
        self.lo = 0

    def stamp(self, t=None):
        """Wide time of tick value `t` (default now) into self.hi / self.lo. A stamp slightly older
        than the last update is fine (it does not move the clock)."""
        if t is None:
            t = ticks_us()
        d = ticks_diff(t, self._last)
        hi = self._hi
        lo = self._lo
        if d >= 0:
            room = T_LO_MASK - lo
            if d <= room:
                lo += d
            else:  # crosses a multiple of 2^30 µs (d < 2^29 on a board: one carry)
                d -= room + 1
                hi += 1 + (d >> T_LO_BITS)
                lo = d & T_LO_MASK
            self._hi = hi
            self._lo = lo
            self._last = t
        else:
            lo += d
            while lo < 0:
                hi -= 1
                lo = lo + T_LO_MASK + 1
        self.hi = hi
        self.lo = lo

    def wide(self, t=None):
        """Wide µs of tick value `t` (default now) as one int (a long int on MicroPython past 2^30 µs)."""
        self.stamp(t)
        return (self.hi << T_LO_BITS) | self.lo
