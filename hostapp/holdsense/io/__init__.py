"""Files: one module per format (`recording` CSV, `capture` raw wire captures, `xdf` LSL recordings)
plus `player` (timed replay of a recording as messages) and `registry` (`open_reader(path)`,
`open_writer(path)`: the one table of formats, by suffix and by the first bytes).

Rule (tests/host/layout/test_import_rules.py): io never imports link or listeners.
Nothing is imported here, so reading a CSV never pays for the other formats.
"""
