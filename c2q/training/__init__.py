"""The one training engine, its losses, scoring, and the reuse of finished trainings."""
