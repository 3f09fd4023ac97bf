"""The learning-rate schedules of student training (c2q.training.engine); a leaf, so params validate
without torch and a new name reruns only what trains."""

SCHEDULES = ("constant", "cosine")
