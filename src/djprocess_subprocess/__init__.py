"""Run each process in a fresh Python interpreter (or a sandbox) started by the pool child.

See :class:`djprocess_subprocess.backend.SubprocessWorkerBackend`.
"""
