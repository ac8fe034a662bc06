"""DSP tests: make the local session generator (dsp_synth.py) importable under --import-mode=importlib."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
