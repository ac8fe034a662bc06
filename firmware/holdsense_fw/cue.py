# Eyes-free cues: buzzer (PWM) and LED patterns, played by an asyncio task.
from . import compat

# pattern id -> list of (on_ms, off_ms, buzzer_hz or 0 for LED only)
PATTERNS = {
    1: ((80, 0, 2700),),                                   # short beep + flash
    2: ((80, 80, 2700), (80, 0, 2700)),                    # double
    3: ((600, 0, 2200),),                                  # long
    4: ((120, 40, 1800), (120, 40, 2400), (200, 0, 3000)),  # rising: release window reached
    5: ((150, 0, 0),),                                     # LED only
}


class Cue:
    def __init__(self, pwm=None, led=None):
        self.pwm = pwm
        self.led = led
        self.pending = None
        self.played = 0
        self.log = []  # (pattern, repeat) as started; the virtual device prints them
        self._flag = None

    def play(self, pattern, repeat=1):
        """Start a pattern (0 stops). ValueError for an unknown pattern."""
        if pattern != 0 and pattern not in PATTERNS:
            raise ValueError("unknown pattern")
        self.pending = (pattern, max(1, min(repeat, 10)))
        self.log.append(self.pending)
        if len(self.log) > 16:
            self.log.pop(0)

    def _out(self, on, hz):
        if self.led is not None:
            self.led.value(1 if on else 0)
        if self.pwm is not None:
            if on and hz:
                self.pwm.freq(hz)
                self.pwm.duty_u16(32768)
            else:
                self.pwm.duty_u16(0)

    async def run(self):
        while True:
            if self.pending is None:
                await compat.sleep_ms(20)
                continue
            pattern, repeat = self.pending
            self.pending = None
            if pattern == 0:
                self._out(False, 0)
                continue
            for _ in range(repeat):
                for on_ms, off_ms, hz in PATTERNS[pattern]:
                    self._out(True, hz)
                    await compat.sleep_ms(on_ms)
                    self._out(False, 0)
                    await compat.sleep_ms(off_ms or 150)
                if self.pending is not None:
                    break
            self.played += 1
