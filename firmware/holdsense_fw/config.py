# Pins per board. Must match hardware/pinout.csv (the single source of truth;
# tests/firmware/test_commands_config.py checks every entry). -1 = not wired.
PINS = {
    "esp32s3": {"HX711_DOUT": 4, "HX711_SCK": 5, "HX711_RATE": 6, "I2C_SDA": 8, "I2C_SCL": 9,
                "BUZZER": 10, "LED": 11, "VBAT_ADC": 1},
    "esp32c3": {"HX711_DOUT": 4, "HX711_SCK": 5, "HX711_RATE": 6, "I2C_SDA": 7, "I2C_SCL": 10,
                "BUZZER": 1, "LED": 0, "VBAT_ADC": 3},
    "picow": {"HX711_DOUT": 2, "HX711_SCK": 3, "HX711_RATE": 6, "I2C_SDA": 4, "I2C_SCL": 5,
              "BUZZER": 15, "LED": 14, "VBAT_ADC": 28},
}
I2C_ID = {"esp32s3": 0, "esp32c3": 0, "picow": 0}
I2C_FREQ = 400000

# Most HX711 breakouts tie RATE to ground with a solder jumper (domain.md): RATE
# counts as wired only when the jumper was opened and the settings file says
# "rate_wired": true (see firmware/README.md). Not wired, the chip runs at a fixed
# rate (10 SPS with RATE to GND, 80 to VCC) that the sampler measures at start-up
# (sampler.EdgeTimer); "rate_hz" then has no effect.

VBAT_DIVIDER = 2.0          # 100k/100k divider
ADC_VREF_MV = 3300          # full scale of read_u16 where the port has no read_uv (RP2: ADC_VREF = 3V3)
BATTERY_LOW_MV = 3400
# Below this no cell is on the divider: USB power with no battery fitted (the 100k to GND pulls the pin to
# ~0 V, or a floating pin reads noise), or the cell's protection circuit has cut it off (2.4-2.5 V). A
# protected 1S LiPo never reads lower while connected, so such a reading is "not measured" (0 mV, 255 %),
# never "battery low": STATUS's low bit must not trip on a roller running from USB (docs/protocol.md §4).
BATTERY_MIN_MV = 2500

# Counts per newton of the reference build (hardware/README.md force budget): two 100 kg
# bar cells of 2.0 mV/V in parallel into the HX711 at gain 128 (ratiometric, so AVDD drops
# out): 2.0e-3 * 128 * 2^24 counts over 200 kg * 9.80665 N/kg = 2189.8 counts/N.
# The budget build (4 x 50 kg half bridges, 1.0 mV/V) reads half as many (~1095).
REFERENCE_COUNTS_PER_N = 2190.0

# Nominal calibration until the host fits one (`holdsense calibrate`): the reference build.
NOMINAL_CAL = {"tare_counts": 0, "counts_to_n": [0.0, 1.0 / REFERENCE_COUNTS_PER_N], "residual_n": None,
               "fitted": False}

DEFAULTS = {
    "rate_hz": 80,
    "idle_after_s": 60,      # unloaded this long -> idle streaming
    "idle_decimation": 8,    # send 1 sample in 8 when idle (10 Hz at 80 SPS)
    "load_counts": 43800,    # |raw - tare| above this = loaded: 20 N at 2190 counts/N, the same
                             # band as the automatic tare; ~175x the build's noise (~250 counts rms)
    "ble_cal_writes": False,
    "rate_wired": False,
    "tare_samples": 40,      # 0.5 s at 80 SPS
    "auto_tare_after_s": 10,       # unloaded and still this long -> automatic tare (0 = off); IDLE sets it
    "queue_len": 256,        # per link: 2.8-3.3 s at a real 78-92 SPS ("80"; 3.2 s at exactly 80),
                             # ~25 s at 10 SPS; full -> the newest sample is dropped (counted), so the
                             # queue keeps the first seconds of an outage (SampleQueue)
}

# Automatic tare: the same "unloaded and still" as the host's auto-zero
# (rollsignal.autozero.AutoZero: 20 N band, 1.5 N steadiness over 0.5 s and 1 s),
# converted to counts with the current calibration's slope. docs/calibration.md.
AUTO_TARE_BAND_N = 20.0      # |force| below this = nobody on the roller (a light hold is >= ~45 N)
AUTO_TARE_STEADY_N = 1.5     # 0.5 s block means within this of the blocks 0.5 s and 1 s before
AUTO_TARE_MIN_N = 0.1        # smaller zero changes are left alone (no flash write, no TARE frame):
#                              flash writes then follow the drift itself, not the clock


def detect_board():
    """Board name from the MicroPython build (os.uname().machine); 'esp32s3' if unknown."""
    try:
        import os
        m = os.uname().machine.upper()
    except Exception:
        return "esp32s3"
    if "PICO W" in m or "PICO2 W" in m or "RP2040" in m or "RP2350" in m:
        return "picow"
    if "C3" in m:
        return "esp32c3"
    return "esp32s3"
