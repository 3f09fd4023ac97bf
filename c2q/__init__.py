"""c2q: distil frozen classical CNN teachers into small quantum students.

The library knows nothing about DVC; the thin scripts in `stages/` call it.
"""
