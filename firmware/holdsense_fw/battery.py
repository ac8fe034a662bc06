# Battery voltage through the 100k/100k divider on an ADC pin.
from . import config

# Li-ion open-circuit voltage (mV) -> percent, piecewise linear
_CURVE = ((3300, 0), (3600, 10), (3700, 30), (3800, 55), (3900, 70), (4000, 82), (4100, 92), (4200, 100))


class Battery:
    def __init__(self, adc=None, divider=config.VBAT_DIVIDER):
        self.adc = adc
        self.divider = divider

    def read(self):
        """(battery_mv, battery_pct); (0, 255) when no ADC is fitted or it fails."""
        if self.adc is None:
            return 0, 255
        try:
            mv = int(self.adc.read_uv() * self.divider / 1000)
        except (OSError, AttributeError):
            return 0, 255
        return mv, percent(mv)


def percent(mv):
    if mv <= _CURVE[0][0]:
        return 0
    for i in range(1, len(_CURVE)):
        v1, p1 = _CURVE[i]
        if mv <= v1:
            v0, p0 = _CURVE[i - 1]
            return p0 + (p1 - p0) * (mv - v0) // (v1 - v0)
    return 100
