# The sampling loop: reads the HX711 at each data-ready edge (timestamped in the
# IRQ), reads and unwraps the encoder, flags saturation/spikes, handles tare and
# idle mode and the automatic tare, and pushes samples into each link's bounded
# queue without ever waiting for a link. Plain Python: runs under MicroPython and CPython.
from array import array

from . import compat
from .compat import T_LO_BITS, T_LO_MASK, diff_us, elapsed_ms
from .config import AUTO_TARE_BAND_N, AUTO_TARE_MIN_N, AUTO_TARE_STEADY_N
from .frame import (ERR_HX711_TIMEOUT, ERR_I2C, ERR_MISSED, ERR_MAGNET_RANGE, ERR_NO_MAGNET, ERR_OVERFLOW,
                    ERR_SATURATED, ERR_SPURIOUS, F_ANGLE_BAD, F_DROPPED, F_IDLE, F_MAGNET, F_SAT,
                    F_SPIKE, TARE_AUTO, TARE_COMMAND)
from .as5600 import MD, MH, ML
from .hx711 import HX711, SPURIOUS_MASK

# A spurious HX711 code has its low bits forced to ones (hx711.SPURIOUS_MASK: the low 12).
# Forcing the low k >= 12 bits moves a reading by (2^k - 1) - (v mod 2^k): anywhere in
# [0, 2^k). A move smaller than the mask's own span (2^12) cannot be told from a genuine
# reading (1 in 4096 of those end in twelve ones, too) and is left to the host's despiker;
# a jump of at least 2^12 means bits above the mask were forced. In force that is 1.9 N in
# one sample at 2190 counts/N (3.7 N on the budget build): over 9 sigma of the
# reading-to-reading noise of a real build (2-5 x the chip's 62 counts rms at 80 SPS), so
# noise never trips it; a genuine reading ending in twelve ones during a > 1.9 N step
# (fast rolling) is median-filtered at the cost of one sample of lag. In counts, not
# newtons: the rule is about bit patterns and holds before any calibration.
SPIKE_JUMP = SPURIOUS_MASK + 1  # 4096 counts
STATUS_EVERY = 16        # read AS5600 STATUS every N samples (MD/ML/MH change slowly)
HALF_TURN = 2048
TARE_MAX_UNUSABLE = 10   # a TARE command ends with ERROR 6 after this many saturated/spurious readings
                         # (or n, if more): a tare cannot be taken from them (request_tare)


class AngleUnwrapper:
    """AS5600 raw 0..4095 -> cumulative count. This is where the angle is unwrapped:
    a step of more than half a turn between two reads is a wrap (at 10 reads/s
    that still allows ~1800 deg/s)."""

    def __init__(self):
        self.last = None
        self.total = 0

    def update(self, raw12):
        if self.last is not None:
            d = (raw12 - self.last) & 0xFFF
            if d >= HALF_TURN:
                d -= 4096
            self.total += d
        else:
            self.total = 0
        self.last = raw12
        return self.total


class AutoTare:
    """Automatic tare: unloaded and still for `auto_tare_after_s` seconds -> a new zero.

    The rule is the host auto-zero's (rollsignal.autozero.AutoZero), so the two agree
    (docs/calibration.md): every reading within AUTO_TARE_BAND_N of the zero, and the mean
    of each 0.5 s block within AUTO_TARE_STEADY_N of the blocks 0.5 s and 1 s before it.
    Newtons become counts with the calibration's slope, counts_to_n[1] (no slope: off).
    Once the still window has lasted auto_tare_after_s, the new tare is the mean raw reading of
    the window; only tare_counts changes, never the slope. A change smaller than
    AUTO_TARE_MIN_N is not applied (so flash writes follow the drift, not the clock).
    Integer sums of (raw - tare): small ints, no float32 rounding, no heap on the board.
    """

    BLOCK_US = 500000

    def __init__(self):
        self.checks = 0   # still windows completed (applied or not)
        self.applied = 0  # zero changes made
        self._coeffs = None
        self._slope = 0.0
        self._band = 0
        self.reset()

    def reset(self):
        self._t0 = None   # wide µs of the window's first reading: (_t0, _t0_lo) = (hi, lo)
        self._t0_lo = 0
        self._tare = 0    # the zero the window is judged against
        self._sum = 0     # sum of (raw - tare) over the window's completed blocks
        self._n = 0
        self._bt0 = 0     # wide µs (hi, lo) of the block's first reading
        self._bt0_lo = 0
        self._bsum = 0
        self._bn = 0
        self._m1 = None   # mean (counts above tare) of the previous block: 0.5 s before
        self._m2 = None   # and of the block before it: 1 s before

    def update(self, hi, lo, raw, tare, cal, after_s):
        """One good reading (wide µs (hi, lo): compat.WideClock, raw counts) against the zero `tare`.

        Returns (new_tare_counts, n_readings) when the roller is to be re-zeroed now, else None.
        """
        if not after_s:
            self._t0 = None
            return None
        c = cal.get("counts_to_n") or ()
        if c is not self._coeffs:  # the calibration changed: thresholds in counts once, not per sample
            self._coeffs = c
            self._slope = abs(c[1]) if len(c) > 1 else 0.0
            self._band = int(AUTO_TARE_BAND_N / self._slope) if self._slope else 0
        slope = self._slope
        if not slope:
            self._t0 = None
            return None
        d = raw - tare
        if d >= self._band or -d >= self._band:  # someone on the roller (|force| >= 20 N)
            self._t0 = None
            return None
        if self._t0 is None or tare != self._tare:
            self.reset()
            self._t0 = hi
            self._t0_lo = lo
            self._tare = tare
            self._bt0 = hi
            self._bt0_lo = lo
        elif self._bn and diff_us(hi, lo, self._bt0, self._bt0_lo) >= self.BLOCK_US:
            res = self._close_block(hi, lo, slope, tare, after_s)
            self._bt0 = hi
            self._bt0_lo = lo
            if res is not None:
                self._bsum = raw - res[0]  # this reading opens the next block, on the new zero
                self._bn = 1
                return res
        self._bsum += d
        self._bn += 1
        return None

    def _close_block(self, hi, lo, slope, tare, after_s):
        m = self._bsum / self._bn
        steady = AUTO_TARE_STEADY_N / slope
        b_sum, b_n = self._bsum, self._bn
        self._bsum = 0
        self._bn = 0
        if ((self._m1 is not None and abs(m - self._m1) >= steady)
                or (self._m2 is not None and abs(m - self._m2) >= steady)):
            # moving: a new window starts here (this block is its 0.5 s / 1 s reference)
            self._t0 = hi
            self._t0_lo = lo
            self._sum = 0
            self._n = 0
            self._m2 = None
            self._m1 = m
            return None
        self._m2 = self._m1
        self._m1 = m
        self._sum += b_sum
        self._n += b_n
        if elapsed_ms(hi, lo, self._t0, self._t0_lo) < after_s * 1000:  # ms: small ints for any after_s
            return None
        s, n = self._sum, self._n
        self.checks += 1
        self._t0 = hi   # next window: the drift goes on
        self._t0_lo = lo
        self._sum = 0
        self._n = 0
        delta = (2 * s + n) // (2 * n)  # rounded mean of (raw - tare)
        if abs(delta) * slope < AUTO_TARE_MIN_N:
            return None
        self.applied += 1
        self._tare = tare + delta
        self._m1 = self._m1 - delta  # block means are kept relative to the new zero
        if self._m2 is not None:
            self._m2 -= delta
        return tare + delta, n


class SampleQueue:
    """Bounded per-link queue. Never blocks: when full, the new sample is dropped,
    counted, and the next sample that gets in carries F_DROPPED. Indices count
    every sample offered while the link streams, so the host sees exact losses.

    Storage is preallocated parallel arrays (ring buffer), not tuples: pushing and
    popping a sample allocates nothing on MicroPython (firmware/README.md "measurements")."""

    def __init__(self, capacity):
        self.cap = capacity
        # initialised from a range: sized once from its len, no temporary buffer (the values are
        # placeholders, every slot is written before it is read)
        r = range(capacity)
        self.idx = array("I", r)      # sample index (the wire's u32)
        self.t_hi = array("i", r)     # wide µs >> 30
        self.t_lo = array("i", r)     # wide µs & 0x3FFFFFFF
        self.raw = array("i", r)      # signed 24-bit reading
        self.flags = bytearray(capacity)
        self.angle = array("i", r)    # cumulative encoder count
        self.head = 0
        self.count = 0
        self.next_index = 0
        self.dropped = 0
        self._pending_drop = False
        self.enabled = False
        self.wake = None  # set when the queue goes from empty to one sample (event-driven tx tasks)

    def skip(self, n):
        """`n` samples that exist but never reached this queue (conversions the firmware
        missed): their indices are used up and counted as dropped, so the host sees the loss."""
        if not self.enabled or n <= 0:
            return
        self.next_index += n
        self.dropped += n
        self._pending_drop = True

    def push(self, t, raw, flags, angle):
        """Queue one sample (wide µs as one int: tests, tools). See push_hl."""
        return self.push_hl(t >> T_LO_BITS, t & T_LO_MASK, raw, flags, angle)

    def push_hl(self, t_hi, t_lo, raw, flags, angle):
        """Queue one sample (wide µs as (hi, lo): compat.WideClock, raw counts, flags, angle).
        False when not streaming or full."""
        if not self.enabled:
            return False
        idx = self.next_index
        self.next_index = idx + 1
        if self.count >= self.cap:
            self.dropped += 1
            self._pending_drop = True
            return False
        if self._pending_drop:
            flags |= F_DROPPED
            self._pending_drop = False
        j = self.head + self.count
        if j >= self.cap:
            j -= self.cap
        self.idx[j] = idx if idx <= T_LO_MASK else idx & 0xFFFFFFFF  # no long int below 2^30
        self.t_hi[j] = t_hi
        self.t_lo[j] = t_lo
        self.raw[j] = raw
        self.flags[j] = flags & 0xFF
        self.angle[j] = angle
        self.count += 1
        if self.count == 1 and self.wake is not None:
            self.wake.set()
        return True

    def t_at(self, k):
        """Wide µs of the k-th queued sample (0 = oldest). Allocates past 2^30 µs on MicroPython."""
        j = self.head + k
        if j >= self.cap:
            j -= self.cap
        return (self.t_hi[j] << T_LO_BITS) | self.t_lo[j]

    def drop_front(self, n):
        """Forget the n oldest samples (they were encoded)."""
        h = self.head + n
        if h >= self.cap:
            h -= self.cap
        self.head = h
        self.count -= n

    def pop(self, max_n):
        """Up to max_n (index, (t, raw, flags, angle)) pairs, oldest first. Allocates: tests and
        CPython tools; the transmit path encodes from the arrays (Link.encode_batch)."""
        n = min(max_n, self.count)
        out = []
        for k in range(n):
            j = (self.head + k) % self.cap
            raw = self.raw[j]
            out.append((self.idx[j], (self.t_at(k), raw, self.flags[j], self.angle[j])))
        self.drop_front(n)
        return out

    def clear(self):
        self.head = 0
        self.count = 0


class EdgeTimer:
    """Data-ready edges from IRQ stamps: how many conversions each read stands for, and when the
    read one really happened.

    The HX711 converts on its own clock (78-92 SPS at the "80" setting, steady within
    ~0.4 %), whether or not the firmware reads. A conversion not read before the next one
    is overwritten; on ESP32 pin IRQs are soft (run later, from the scheduler, several
    edges collapsing into one call), so the stamp taken in the handler is the edge plus a
    scheduling delay that is never negative. This model follows the chip like a PLL that
    locks onto the lower envelope of the stamps:

    - k = floor((stamp - last_edge + p/16) / p) conversions since the previous read, so a read
      that stands for k conversions reports k - 1 missed (the sample index advances by k: the
      host's loss count sees them);
    - the edge estimate is the prediction last_edge + k*p, pulled down to the stamp when the
      stamp is earlier (a stamp is an upper bound of its edge) and nudged up by 1/16 of a later
      stamp's excess, at most p/256 (the chip's period drifts slowly; a delay is not a drift);
    - the period p follows the estimates (EMA 1/16); eight stamps in a row more than p/4 later
      than predicted mean the rate changed: the model re-locks on the stamps;
    - RATE not wired (rate_hz None): the period is learned from the first reads (LEARN_INTERVALS
      below). A wrong starting period could not be corrected later: a real period that is a whole
      multiple of the assumed one (100 ms = 8 x 12.5 ms) predicts every stamp exactly, and each
      read would book k - 1 conversions as missed.

    Error of the edge estimate (docs/protocol.md "Time"): about the smallest scheduling delay of
    the recent stamps plus the chip's ~15 µs jitter; on the virtual device's ESP32-like soft IRQs
    (60 µs + exponential 250 µs, 1 % of 2-6 ms) it stays within ±p/32 (0.39 ms at 80 SPS) where
    raw stamps are up to 6 ms late. With a hard IRQ the stamps are the edges within the IRQ
    latency. All values are wide µs (ints).
    """

    RELOCK_AFTER = 8
    # rate_hz None (RATE not wired, so the chip's fixed rate is unknown): the period is learned from
    # the first LEARN_INTERVALS intervals between reads (each read counts as one conversion meanwhile).
    # Their median is robust to one or two odd intervals (a stamp taken late by the stall check, a
    # conversion missed at start-up); the nominal rate is the one of the two whose period is nearer
    # on a log scale (the split is their geometric mean, 35.4 ms), and the period starts from the
    # median, kept within 25 % of that nominal period (a real part runs 78-92 SPS at "80").
    LEARN_INTERVALS = 5
    SPLIT_10_80_US = 35355  # sqrt(100000 * 12500)

    def __init__(self, rate_hz=80):
        self._iv = array("i", range(self.LEARN_INTERVALS))  # learning: the intervals so far (µs)
        self.learned_hz = 0  # rate_hz None: the nominal rate once learned (0 until then)
        self.reset(rate_hz)
        self.missed = 0     # conversions never read since boot
        self.corrected = 0  # stamps later than their estimate by more than p/32
        self.last_missed = 0
        self.hi = 0         # the last edge estimate, wide µs as two small ints (compat.WideClock)
        self.lo = 0

    def reset(self, rate_hz):
        """rate_hz: the nominal rate (10 or 80), or None to learn the period from the reads."""
        self.period_us = 1000000 // rate_hz if rate_hz else 0  # 0: learning
        self._n_iv = 0
        self.last = None    # wide µs of the previous edge estimate: (last, last_lo) = (hi, lo)
        self.last_lo = 0
        self._late = 0

    def _learn(self, hi, lo, dt):
        """One more interval while the period is unknown: the read is one conversion, its stamp the edge."""
        iv = self._iv
        n = self._n_iv
        while n > 0 and iv[n - 1] > dt:  # insertion: the intervals stay sorted (nothing allocated)
            iv[n] = iv[n - 1]
            n -= 1
        iv[n] = dt
        self._n_iv += 1
        self._set(hi, lo)
        if self._n_iv < self.LEARN_INTERVALS:
            return
        med = iv[self.LEARN_INTERVALS >> 1]
        hz = 10 if med > self.SPLIT_10_80_US else 80
        nominal = 1000000 // hz
        lo_p = nominal - (nominal >> 2)
        hi_p = nominal + (nominal >> 2)
        self.period_us = lo_p if med < lo_p else (hi_p if med > hi_p else med)
        self.learned_hz = hz

    def edge(self, t):
        """Stamp `t` (wide µs, one int) of a read conversion -> (edge wide µs, conversions missed
        before it). Tests and tools; the sampler calls step_hl (no tuple, no long int)."""
        self.step_hl(t >> T_LO_BITS, t & T_LO_MASK)
        return (self.hi << T_LO_BITS) | self.lo, self.last_missed

    def step(self, t):
        """edge() without the tuple: the edge (wide µs, one int)."""
        self.step_hl(t >> T_LO_BITS, t & T_LO_MASK)
        return (self.hi << T_LO_BITS) | self.lo

    def step_hl(self, hi, lo):
        """The stamp (hi, lo) of a read conversion -> its edge estimate in self.hi / self.lo, the
        conversions missed before it in self.last_missed. Every intermediate is a distance between
        nearby times, a small int on MicroPython at any uptime: nothing is allocated."""
        lhi = self.last
        self.last_missed = 0
        if lhi is None:
            self._set(hi, lo)
            return
        llo = self.last_lo
        p = self.period_us
        dt = diff_us(hi, lo, lhi, llo)
        if not p:
            self._learn(hi, lo, dt)
            return
        k = (dt + (p >> 4)) // p
        if k < 1:
            k = 1   # a read sooner than one period: the same conversion cannot be read twice
        kp = k * p
        r = dt - kp   # the stamp minus the predicted edge (last + k*p)
        if r <= 0:
            inc = dt  # the stamp is an upper bound of its edge: take it
            self._late = 0
        else:
            if r > p >> 2:
                self._late += 1
                if self._late >= self.RELOCK_AFTER:
                    self._late = 0
                    self.period_us = (dt + (k >> 1)) // k
                    self._set(hi, lo)
                    if k > 1:
                        self.missed += k - 1
                        self.last_missed = k - 1
                    return
            else:
                self._late = 0
            nudge = r >> 4
            cap = p >> 8      # ~45 µs at 80 SPS: far above the chip's drift per sample
            inc = kp + (nudge if nudge < cap else cap)
            if r > p >> 5:
                self.corrected += 1
        self.period_us = p + (inc // k - p) // 16
        if inc == dt:
            self._set(hi, lo)
        else:  # last + inc, carried into hi without a value of 2^30 or more
            room = T_LO_MASK - llo
            if inc <= room:
                self._set(lhi, llo + inc)
            else:
                inc -= room + 1
                self._set(lhi + 1 + (inc >> T_LO_BITS), inc & T_LO_MASK)
        if k > 1:
            self.missed += k - 1
            self.last_missed = k - 1

    def _set(self, hi, lo):
        self.hi = self.last = hi
        self.lo = self.last_lo = lo


class Sampler:
    def __init__(self, hx, enc=None, settings=None, clock=None):
        """hx: HX711 driver; enc: AS5600 driver or None; settings: dict (storage.load())."""
        self.hx = hx
        self.enc = enc
        self.settings = settings if settings is not None else {}
        self.clock = clock or compat.WideClock()
        self.queues = []
        self.unwrapper = AngleUnwrapper()
        self.angle = 0
        self.angle_flags = 0
        self.errors = 0
        self.hx711_timeouts = 0
        self.samples_seen = 0
        self.idle = False
        self._unloaded_since = None  # wide µs (hi, lo) since when the roller is unloaded
        self._unloaded_lo = 0
        self._decim = 0
        self._h1 = None  # previous two (cleaned) readings, for the spike median
        self._h2 = None
        self._tare = None  # [n_wanted, sum, count, callback, unusable readings, fail callback]
        self.autotare = AutoTare()
        self.on_tare = None  # callback(tare_counts, n, source): the zero changed (App tells the links)
        self._rate_t0 = None  # wide µs (hi, lo) of the rate window's start
        self._rate_lo = 0
        self._rate_n = 0
        self.rate_chz = 0
        self.last_raw = None
        self.running = False
        self._n = 0
        # RATE not wired: the chip's fixed rate is learned from the first conversions (EdgeTimer)
        self._learning = not getattr(hx, "rate_known", True)
        self.timer = EdgeTimer(None if self._learning else getattr(hx, "rate_hz", 80))
        self.on_rate = None  # callback(): the chip's fixed rate was learned (App tells the links)
        self.spurious_wakes = 0   # IRQ wakes with no conversion waiting (ignored)
        self.last_read_ms = compat.ticks_ms()
        self.wdt = None           # machine.WDT (App): fed after every sample
        self._flag = None
        if enc is not None:
            try:
                self._check_magnet(enc.setup())
            except OSError:
                self.errors |= ERR_I2C

    # -- configuration --
    def add_queue(self, q):
        self.queues.append(q)

    @property
    def tare_counts(self):
        return int(self.settings["cal"]["tare_counts"])

    def request_tare(self, n, callback, fail=None):
        """Average the next n good readings into the tare; callback(tare_counts, n) then.
        ValueError if a tare is already running.

        fail(message) instead when the chip gives no usable readings: as many saturated or spurious
        ones as good ones were asked for (at least TARE_MAX_UNUSABLE: an overloaded or unplugged
        cell reads full scale for ever), or an HX711 timeout. Without this a TARE on a broken cell
        was never answered and every later TARE was refused as busy."""
        if self._tare is not None:
            raise ValueError("busy")
        self._tare = [n, 0, 0, callback, 0, fail]

    def _tare_failed(self, message):
        """The running TARE command cannot finish: it ends (answered through its fail callback)."""
        tr = self._tare
        self._tare = None
        if tr is not None and tr[5] is not None:
            tr[5](message)

    # -- per sample --
    def _check_magnet(self, st):
        md, ml, mh = st
        self._check_magnet_bits((MD if md else 0) | (ML if ml else 0) | (MH if mh else 0))

    def _check_magnet_bits(self, s):
        self.angle_flags = 0
        if not s & MD:
            self.errors |= ERR_NO_MAGNET
            self.angle_flags = F_ANGLE_BAD
        elif s & (ML | MH):
            self.errors |= ERR_MAGNET_RANGE
            self.angle_flags = F_MAGNET

    def _read_angle(self):
        """Read and unwrap the encoder into self.angle; returns the angle flags (no tuple)."""
        enc = self.enc
        try:
            if self._n % STATUS_EVERY == 0:
                self._check_magnet_bits(enc.status_bits())
            if self.angle_flags & F_ANGLE_BAD:
                return self.angle_flags
            self.angle = self.unwrapper.update(enc.raw_angle())
            return self.angle_flags
        except OSError:
            self.errors |= ERR_I2C
            return F_ANGLE_BAD

    def rate_changed(self):
        """RATE switched: the chip restarts at its new period; re-learn it."""
        self.timer.reset(self.hx.rate_hz)
        self._rate_t0 = None

    def process(self, ticks, raw):
        """Handle one HX711 reading whose data-ready IRQ stamped tick `ticks`.

        The stamp is corrected to the edge and the conversions missed since the previous
        read are counted into every streaming queue's index (EdgeTimer)."""
        timer = self.timer
        clk = self.clock
        clk.stamp(ticks)
        timer.step_hl(clk.hi, clk.lo)
        hi = timer.hi   # the edge's wide µs as two small ints: nothing allocated at any uptime
        lo = timer.lo
        if self._learning and timer.learned_hz:
            self._learning = False
            self.hx.rate_learned(timer.learned_hz)
            if self.on_rate is not None:
                self.on_rate()
        missed = timer.last_missed
        if missed:
            self.errors |= ERR_MISSED
            if not self.idle:  # idle streaming skips samples on purpose: those are not in the stream
                for q in self.queues:
                    q.skip(missed)
            self._rate_n += missed
        self._n += 1
        self.samples_seen += 1
        flags = 0
        if HX711.saturated(raw):
            flags |= F_SAT
            self.errors |= ERR_SATURATED
        elif (HX711.spurious_pattern(raw) and self._h1 is not None
              and abs(raw - self._h1) >= SPIKE_JUMP):
            # causal 3-point median: removes an isolated glitch, costs no latency
            h2 = self._h1 if self._h2 is None else self._h2
            a, b, c = raw, self._h1, h2
            raw = max(min(a, b), min(max(a, b), c))
            flags |= F_SPIKE
            self.errors |= ERR_SPURIOUS
        if not flags & F_SAT:
            self._h2 = self._h1
            self._h1 = raw
        self.last_raw = raw
        angle = 0
        if self.enc is not None:
            flags |= self._read_angle()
            angle = self.angle
        self._measure_rate(hi, lo)
        # tare: average good readings
        tr = self._tare
        if tr is not None and flags & (F_SAT | F_SPIKE):
            tr[4] += 1
            if tr[4] >= tr[0] and tr[4] >= TARE_MAX_UNUSABLE:
                self._tare_failed("HX711 saturated: no usable reading for the tare (overload, or a load-cell"
                                  " wire loose)" if flags & F_SAT else "HX711 readings unusable (spurious codes)")
        elif tr is not None:
            tr[1] += raw
            tr[2] += 1
            if tr[2] >= tr[0]:
                self._tare = None
                tare = (tr[1] + tr[2] // 2) // tr[2]
                self.settings["cal"]["tare_counts"] = tare
                if self.on_tare is not None:
                    self.on_tare(tare, tr[2], TARE_COMMAND)
                tr[3](tare, tr[2])
        s = self.settings
        # automatic tare: unloaded and still for auto_tare_after_s (never during a TARE command)
        if flags & F_SAT or self._tare is not None:
            self.autotare.reset()
        elif not flags & F_SPIKE:
            at = self.autotare.update(hi, lo, raw, self.tare_counts, s["cal"], s.get("auto_tare_after_s", 0))
            if at is not None:
                s["cal"]["tare_counts"] = at[0]
                if self.on_tare is not None:
                    self.on_tare(at[0], at[1], TARE_AUTO)
        # idle mode: decimate while unloaded for a while; full rate again on load
        loaded = abs(raw - self.tare_counts) > s["load_counts"]
        if loaded or flags & F_SAT:
            self._unloaded_since = None
            self.idle = False
        elif self._unloaded_since is None:
            self._unloaded_since = hi
            self._unloaded_lo = lo
        elif s["idle_after_s"] and elapsed_ms(hi, lo, self._unloaded_since, self._unloaded_lo) >= s["idle_after_s"] * 1000:
            if not self.idle:
                self.idle = True
                self._decim = 0
        if self.idle:
            self._decim += 1
            if (self._decim - 1) % max(1, s["idle_decimation"]):
                return
            flags |= F_IDLE
        for q in self.queues:
            if not q.push_hl(hi, lo, raw, flags, angle) and q.enabled:
                self.errors |= ERR_OVERFLOW

    def _measure_rate(self, hi, lo):
        if self._rate_t0 is None:
            self._rate_t0 = hi
            self._rate_lo = lo
            self._rate_n = 0
            return
        self._rate_n += 1
        dt = diff_us(hi, lo, self._rate_t0, self._rate_lo)
        if dt >= 2000000:
            # n * 1e8 / dt in units of 32 µs: every term stays below 2^30 (no long int on
            # MicroPython) up to 300 SPS over the 2 s window, at 1.6e-5 resolution
            d32 = dt >> 5
            self.rate_chz = (self._rate_n * 3125000 + d32 // 2) // d32
            self._rate_t0 = hi
            self._rate_lo = lo
            self._rate_n = 0

    def step(self):
        """Read the HX711 now (it must be ready) and process it with the last IRQ stamp."""
        raw = self.hx.read_raw()
        self.process(self.hx.stamp, raw)

    def timeout(self):
        self.hx711_timeouts += 1
        self.errors |= ERR_HX711_TIMEOUT
        self._tare_failed("HX711 not responding (no conversion): check its wiring")
        self.hx.power_cycle()

    def check_stall(self, now_ms, timeout_ms=None):
        """Called about once a second (App.status_task): no sample for `timeout_ms` -> an edge was
        missed (data waiting: wake the sampler, stamp now) or the chip is stuck (count a timeout,
        power-cycle it). Replaces a wait_for per sample (a task and an exception each time)."""
        if not self.running:
            return False
        if timeout_ms is None:
            timeout_ms = 1000 if self.hx.rate_hz == 80 else 1500
        if compat.ticks_diff(now_ms, self.last_read_ms) < timeout_ms:
            return False
        self.last_read_ms = now_ms
        if self.hx.is_ready():
            self.hx.stamp = compat.ticks_us()
            if self._flag is not None:
                self._flag.set()
        else:
            self.timeout()
        return True

    async def run(self):
        """The sensor task: wait for each data-ready IRQ, read, process, feed the watchdog.
        No allocation per sample beyond the sample itself (no wait_for, no task)."""
        flag = compat.ThreadSafeFlag()
        self._flag = flag
        self.hx.start_irq(flag)
        self.running = True
        hx = self.hx
        try:
            while self.running:
                await flag.wait()
                if not hx.is_ready():
                    self.spurious_wakes += 1  # a late soft IRQ for an edge already read
                    continue
                try:
                    self.step()
                except OSError:
                    continue  # edge without data (e.g. after a power cycle)
                self.last_read_ms = compat.ticks_ms()
                if self.wdt is not None:
                    self.wdt.feed()
        finally:
            hx.stop_irq()
            self.running = False
