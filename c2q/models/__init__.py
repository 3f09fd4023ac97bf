"""The networks: classical teachers, quantum students and their circuits."""
