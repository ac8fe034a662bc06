"""File formats read and written by holdsense (recordings, captures, XDF, labels, markers)."""
