"""djprocess: long-running Django jobs with per-process timeouts and paginated logs."""

__all__ = ["__version__"]

__version__ = "0.1.0"
