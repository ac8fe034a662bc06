"""Listeners: everything that consumes the message stream (views, recorder, outlets)."""
