"""Consumers of the message stream: the `notifier` (fan-out loop), the `recorder` (session
bookkeeping), the `live` detector and view, the `lsl` outlets, and the `capture_tap` that
writes raw wire captures while recording; the `web` page (a live view
for a phone or laptop) with its static files in webpage/ and `bigtext` for the terminal's big letters.
"""
