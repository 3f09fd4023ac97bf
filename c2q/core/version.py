"""c2q's version: pyproject.toml reads it, and every model file records it (c2q.serving.classifier)."""

VERSION = "0.2.0"
