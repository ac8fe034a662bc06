"""Coaching above the analysis: the guided session `flow` (regions, movement tests, safety), `cues`
(sound / roller cues), `history` (the session database) and `report` (HTML/PDF reports).
"""
