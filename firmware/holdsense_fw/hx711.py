# HX711 24-bit load-cell ADC, bit-banged (robert-hh/hx711 shape: takes Pin objects).
# Interrupts are off for each PD_SCK pulse (high phase and the bit read), not for the
# whole 25..27-pulse read: no ISR can stretch a high phase past 60 µs (the chip would
# power down), while radio/USB interrupts still run between bits (the chip does not
# care how long PD_SCK stays low).
import machine

from . import compat

SAT_HIGH = 0x7FFFFF
SAT_LOW = -0x800000
SPURIOUS_MASK = 0xFFF  # long-wire glitch codes have their low bits all ones (domain.md)


class HX711:
    GAIN_PULSES = {128: 1, 32: 2, 64: 3}  # extra pulses after the 24 data bits pick the next gain

    def __init__(self, dout, pd_sck, rate=None, gain=128):
        """dout: input Pin, pd_sck: output Pin, rate: output Pin to RATE or None (not wired)."""
        self.dout = dout
        self.sck = pd_sck
        self.rate_pin = rate
        self._extra = self.GAIN_PULSES[gain]
        self._reading = False
        self.stamp = 0          # ticks_us of the last data-ready edge (set by the IRQ)
        self.edges = 0          # IRQ calls that saw data ready (several edges may coalesce into one)
        self.hard_irq = False   # True when the port gave a hard (immediate) IRQ: exact stamps
        self._flag = None
        # RATE wired: the rate is what set_rate chose (80 until then: the pin is driven high).
        # Not wired: the breakout ties RATE to GND (10 SPS, most boards) or VCC (80 SPS); the sampler
        # measures the data-ready period of the first conversions and calls rate_learned. Until then
        # rate_hz is a placeholder (80) and rate_known is False.
        self.rate_hz = 80
        self.rate_known = rate is not None
        self.sck.value(0)

    @property
    def rate_selectable(self):
        return self.rate_pin is not None

    def set_rate(self, hz):
        """10 or 80 SPS via RATE; ValueError("unsupported") when RATE is not wired."""
        if self.rate_pin is None:
            raise ValueError("unsupported")
        if hz not in (10, 80):
            raise ValueError("rate must be 10 or 80")
        self.rate_pin.value(1 if hz == 80 else 0)
        self.rate_hz = hz
        self.rate_known = True

    def rate_learned(self, hz):
        """RATE not wired: the sampler measured the chip's fixed rate (10 or 80, nominal)."""
        self.rate_hz = hz
        self.rate_known = True

    def is_ready(self):
        return self.dout.value() == 0

    def start_irq(self, flag):
        """Timestamp each data-ready (DOUT falling) edge in the IRQ and set `flag`.

        A hard IRQ (ESP32, RP2: `hard=True`) runs at the edge, so the stamp is the edge
        within the interrupt latency; where the port has only soft IRQs the handler runs
        later, from the scheduler, and the sampler's timing model corrects the stamp
        (sampler.EdgeTimer, docs/protocol.md "Time")."""
        self._flag = flag
        try:
            self.dout.irq(handler=self._isr, trigger=self.dout.IRQ_FALLING, hard=True)
            self.hard_irq = True
        except (TypeError, ValueError):
            self.dout.irq(handler=self._isr, trigger=self.dout.IRQ_FALLING)
            self.hard_irq = False

    def stop_irq(self):
        self.dout.irq(handler=None)

    def _isr(self, pin):
        # No allocation here (hard IRQ). DOUT also falls while data bits are clocked out, and a
        # soft IRQ for such an edge may run after the read: only a low DOUT outside a read is
        # a conversion waiting (a late call for an edge already read sees DOUT high).
        if not self._reading and not self.dout.value():
            self.stamp = compat.ticks_us()
            self.edges += 1
            self._flag.set()

    def read_raw(self):
        """Read one conversion (signed counts). OSError if no data is ready."""
        if self.dout.value():
            raise OSError(110, "HX711 not ready")
        sck = self.sck
        dout = self.dout
        v = 0
        self._reading = True
        disable = machine.disable_irq
        enable = machine.enable_irq
        try:
            for _ in range(24):
                state = disable()  # per pulse: the high phase must stay < 60 µs
                sck.value(1)
                sck.value(0)
                enable(state)
                v = (v << 1) | dout.value()
            for _ in range(self._extra):
                state = disable()
                sck.value(1)
                sck.value(0)
                enable(state)
        finally:
            self._reading = False  # DOUT is high now: late IRQs for the data bits are ignored
        if v & 0x800000:
            v -= 0x1000000
        return v

    def wait_read(self, timeout_ms=500):
        """Blocking read for tools and tests: poll until ready; OSError on timeout."""
        t0 = compat.ticks_ms()
        while self.dout.value():
            if compat.ticks_diff(compat.ticks_ms(), t0) > timeout_ms:
                raise OSError(110, "HX711 timeout")
            compat.sleep_us(100)
        self.stamp = compat.ticks_us()
        return self.read_raw()

    def power_cycle(self):
        """PD_SCK high > 60 µs powers the chip down; low again restarts it (recovers a stuck part)."""
        self.sck.value(1)
        compat.sleep_us(100)
        self.sck.value(0)

    @staticmethod
    def saturated(v):
        return v == SAT_HIGH or v == SAT_LOW

    @staticmethod
    def spurious_pattern(v):
        return (v & SPURIOUS_MASK) == SPURIOUS_MASK
