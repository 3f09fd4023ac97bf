"""c2q: distil frozen classical CNN teachers into small quantum students.

The library knows nothing about DVC; the thin scripts in `stages/` call it.
A trained student on raw images: `from c2q.serving import load_student` (c2q.serving).
"""
