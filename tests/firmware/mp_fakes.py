# Fakes for every MicroPython-side test script (mp_checks, mp_board, mp_ble, mp_measure; imported
# inside the real interpreter; run_micropython.mjs copies this file to /fw): a `machine` with an HX711 that converts on demand, an AS5600 on I2C, WDT and
# Timer; and `bluetooth` + `aioble` modules that behave like micropython-lib's aioble on a board:
# advertise() returns when a central connects, the connection's MTU is None until exchange_mtu(),
# notify() goes to ble.gatts_notify and raises OSError(ENOMEM) when the stack's buffers are full
# and a TypeError once the connection is gone (its handle is None), BufferedCharacteristic with
# capture=True hands writes to written() in order, disconnected() returns when the link drops.
import sys
import io
import asyncio
import time

class _Board:
    value = 84210
    bit = 0
    ready = False
    irq_off = 0
    sck = 0
    bad_pulses = 0
    handler = None
    dout = None
    angle = 100
    feeds = 0
    timers = []
    conversions = 0
    i2c_devices = [0x36]   # what I2C.scan() finds: the AS5600 (set to [] for a board without encoder)


B = _Board()


class Pin:
    IN = 0
    OUT = 1
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        if n == 4:
            B.dout = self
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.n == 4:
                if not B.ready:
                    return 1
                if B.bit == 0:
                    return 0
                if B.bit <= 24:
                    return (B.value >> (24 - B.bit)) & 1
                return 1
            return 0
        if self.n == 5:
            if v and not B.sck:
                if not B.irq_off:
                    B.bad_pulses += 1
                if B.ready:
                    B.bit += 1
            elif not v and B.sck and B.bit >= 25:
                B.ready = False
                B.bit = 0
            B.sck = v

    def irq(self, handler=None, trigger=0, hard=False):
        B.handler = handler


class I2C:
    def __init__(self, *a, **k):
        self.regs = bytearray(256)
        self.regs[0x0B] = 0x20  # magnet detected

    def scan(self):
        return list(B.i2c_devices)

    def readfrom_mem(self, addr, reg, n):
        if reg == 0x0C:
            B.angle = (B.angle + 7) & 0xFFF
            self.regs[0x0C] = B.angle >> 8
            self.regs[0x0D] = B.angle & 0xFF
        return bytes(self.regs[reg:reg + n])

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x0C:
            B.angle = (B.angle + 7) & 0xFFF
            self.regs[0x0C] = B.angle >> 8
            self.regs[0x0D] = B.angle & 0xFF
        for i in range(len(buf)):  # like the real one: into the caller's buffer, nothing allocated
            buf[i] = self.regs[reg + i]

    def writeto_mem(self, addr, reg, data):
        self.regs[reg] = data[0]


class PWM:
    def __init__(self, pin):
        pass

    def duty_u16(self, d=None):
        pass

    def freq(self, f=None):
        pass


class ADC:
    def __init__(self, pin):
        pass

    def read_uv(self):
        return 1950000


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        B.feeds += 1


class Timer:
    PERIODIC = 1

    def __init__(self, id=0):
        B.timers.append(self)
        self.cfg = None

    def init(self, **kw):
        self.cfg = kw


def disable_irq():
    B.irq_off += 1
    return 0


def enable_irq(s):
    B.irq_off = 0


def unique_id():
    return b"\x01\x02\x03\x04\x05\x06"


class _M:
    pass


machine = _M()
for _k, _v in (("Pin", Pin), ("I2C", I2C), ("PWM", PWM), ("ADC", ADC), ("WDT", WDT), ("Timer", Timer),
               ("disable_irq", disable_irq), ("enable_irq", enable_irq), ("unique_id", unique_id)):
    setattr(machine, _k, _v)
sys.modules["machine"] = machine


def convert():
    """The chip finishes a conversion: DOUT low, the IRQ handler runs (soft: from here)."""
    B.value = (B.value + 13) & 0xFFFFFF
    B.ready = True
    B.bit = 0
    B.conversions += 1
    if B.handler is not None:
        B.handler(B.dout)


MP_STREAM_POLL = 3


class Stream(io.IOBase):
    """A USB port in memory, with MicroPython's stream protocol: select.poll asks ioctl."""

    def __init__(self):
        self.inp = bytearray()
        self.out = bytearray()
        self.writable = True   # False: the host stopped reading (POLLOUT off, as a full USB port)

    def ioctl(self, req, arg):
        if req == MP_STREAM_POLL:
            ev = 0
            if arg & 1 and self.inp:
                ev |= 1
            if arg & 4 and self.writable:
                ev |= 4
            return ev
        return 0

    def read(self, n=-1):
        assert len(self.inp) >= n, "read(%d) with %d bytes there would block the board" % (n, len(self.inp))
        b = bytes(self.inp[:n])
        self.inp = self.inp[n:]
        return b

    def write(self, b):
        self.out.extend(b)
        return len(b)




# ---------------------------------------------------------------- bluetooth + aioble
class UUID:
    def __init__(self, v):
        self.v = v

    def __eq__(self, o):
        return isinstance(o, UUID) and o.v == self.v


class _BT:
    UUID = UUID


sys.modules["bluetooth"] = _BT()


class Radio:
    """What the central and the radio do (driven by the test)."""

    def __init__(self):
        self.connect_ev = asyncio.Event()
        self.adverts = []
        self.notified = []           # bytes of each notification
        self.notified_us = []        # ticks_us of each (same order)
        self.budget = 1000           # notifications the stack takes before its buffers are full
        self.refused = 0
        self.registered = []
        self.conn = None


R = Radio()


class DeviceConnection:
    def __init__(self):
        self._conn_handle = 1
        self.mtu = None              # aioble: None until an MTU exchange happened
        self._disc = asyncio.Event()

    def is_connected(self):
        return self._conn_handle is not None

    async def exchange_mtu(self, mtu=None, timeout_ms=1000):
        await asyncio.sleep_ms(20)
        self.mtu = min(mtu, 247)
        return self.mtu

    async def disconnected(self, timeout_ms=60000, disconnect=False):
        await self._disc.wait()

    def drop(self):
        """The central goes away mid-stream."""
        self._conn_handle = None
        self._disc.set()


def gatts_notify(conn_handle, value_handle, data):
    if conn_handle is None:
        raise TypeError("can't convert NoneType to int")
    if R.budget <= 0:
        R.refused += 1
        raise OSError(12)  # ENOMEM: the stack's notification buffers are full
    R.budget -= 1
    R.notified.append(bytes(data))
    R.notified_us.append(time.ticks_us())


class Service:
    def __init__(self, uuid):
        self.uuid = uuid
        self.characteristics = []


class Characteristic:
    def __init__(self, service, uuid, read=False, write=False, write_no_response=False, notify=False,
                 indicate=False, initial=None, capture=False):
        service.characteristics.append(self)
        self.uuid = uuid
        self._notify = notify
        self._value = initial
        self._capture = capture
        self._q = []
        self._ev = asyncio.Event()

    def notify(self, connection, data=None):
        if not self._notify:
            raise ValueError("Not supported")
        gatts_notify(connection._conn_handle, 1, data)

    def write(self, data, send_update=False):
        self._value = data

    def read(self):
        return self._value

    async def written(self, timeout_ms=None):
        while not self._q:
            self._ev.clear()
            await self._ev.wait()
        return self._q.pop(0)

    def central_writes(self, conn, data):
        self._q.append((conn, bytes(data)) if self._capture else conn)
        self._ev.set()


class BufferedCharacteristic(Characteristic):
    def __init__(self, *args, max_len=20, append=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._max_len = max_len


def register_services(*services):
    R.registered = list(services)


_CONFIG = {"mac": (0, b"\x7c\xdf\xa1\x00\x11\x22")}


def config(*a, **kw):
    if a:
        return _CONFIG[a[0]]
    _CONFIG.update(kw)


async def advertise(interval_us, name=None, services=None, manufacturer=None, timeout_ms=None, **kw):
    R.adverts.append((name, manufacturer))
    R.connect_ev.clear()
    await R.connect_ev.wait()
    R.conn = DeviceConnection()
    return R.conn


class _Aioble:
    pass


aioble = _Aioble()
for _k, _v in (("Service", Service), ("Characteristic", Characteristic),
               ("BufferedCharacteristic", BufferedCharacteristic), ("register_services", register_services),
               ("config", config), ("advertise", advertise), ("DeviceConnection", DeviceConnection)):
    setattr(aioble, _k, _v)
sys.modules["aioble"] = aioble
