# Battery voltage through the 100k/100k divider on an ADC pin.
from . import config

# Li-ion open-circuit voltage (mV) -> percent, piecewise linear
_CURVE = ((3300, 0), (3600, 10), (3700, 30), (3800, 55), (3900, 70), (4000, 82), (4100, 92), (4200, 100))


class Battery:
    def __init__(self, adc=None, divider=config.VBAT_DIVIDER, vref_mv=config.ADC_VREF_MV):
        """adc: machine.ADC on the divider's midpoint, or None. ESP32 ports read calibrated microvolts
        (read_uv); the RP2 port (Pico W) has only read_u16, full scale = its 3.3 V reference (vref_mv)."""
        self.adc = adc
        self.divider = divider
        self.vref_mv = vref_mv
        self._uv = adc is not None and hasattr(adc, "read_uv")

    def read(self):
        """(battery_mv, battery_pct); (0, 255) when no ADC is fitted, it fails, or it reads under
        config.BATTERY_MIN_MV (no battery: on USB power alone), so that is never "low"."""
        if self.adc is None:
            return 0, 255
        try:
            if self._uv:
                mv = int(self.adc.read_uv() * self.divider / 1000)
            else:
                mv = int(self.adc.read_u16() * self.vref_mv * self.divider / 65535)
        except (OSError, AttributeError):
            return 0, 255
        if mv < config.BATTERY_MIN_MV:
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
