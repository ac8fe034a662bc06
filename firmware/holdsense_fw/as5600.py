# AS5600 12-bit magnetic angle sensor on I2C. Gives raw 0..4095 angles; the
# sampler (sampler.AngleUnwrapper) unwraps them into a cumulative count.
ADDR = 0x36
REG_CONF_H = 0x07   # CONF bits 13:8; WD (watchdog) is bit 13 = bit 5 here
REG_CONF_L = 0x08   # CONF bits 7:0; PM (power mode) bits 1:0
REG_STATUS = 0x0B   # MH bit 3, ML bit 4, MD bit 5
REG_RAW_ANGLE = 0x0C
WD_BIT = 0x20
MH = 0x08
ML = 0x10
MD = 0x20


class AS5600:
    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self._b1 = bytearray(1)  # read buffers: the per-sample reads allocate nothing
        self._b2 = bytearray(2)

    def setup(self):
        """Disable the watchdog (it drops to low power after ~1 min still: exactly a hold)
        and force normal power mode. Raises OSError when the chip does not answer."""
        h = self.i2c.readfrom_mem(self.addr, REG_CONF_H, 1)[0]
        lo = self.i2c.readfrom_mem(self.addr, REG_CONF_L, 1)[0]
        if h & WD_BIT:
            self.i2c.writeto_mem(self.addr, REG_CONF_H, bytes((h & ~WD_BIT & 0x3F,)))
        if lo & 0x03:
            self.i2c.writeto_mem(self.addr, REG_CONF_L, bytes((lo & 0xFC,)))
        return self.status()

    def status(self):
        """(magnet detected, too weak, too strong)."""
        s = self.status_bits()
        return bool(s & MD), bool(s & ML), bool(s & MH)

    def status_bits(self):
        """The STATUS register (MD, ML, MH bits), read without allocating."""
        b = self._b1
        self.i2c.readfrom_mem_into(self.addr, REG_STATUS, b)
        return b[0]

    def raw_angle(self):
        b = self._b2
        self.i2c.readfrom_mem_into(self.addr, REG_RAW_ANGLE, b)
        return ((b[0] & 0x0F) << 8) | b[1]
