"""djprocess: long-running Django jobs with per-process timeouts and paginated logs."""

__version__ = "0.1.0"
