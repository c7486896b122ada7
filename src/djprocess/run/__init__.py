"""The run: what happens on the worker that takes a process.

The worker process that takes a process task (a Celery pool child) is the run's *local
supervisor* (:mod:`djprocess.run.localsupervisor`): it claims the row
(:mod:`djprocess.run.runner`), starts the run through a launcher (:mod:`djprocess.run.launch`:
a fork, or an executor's child), watches its deadline and its row, stops it (SIGTERM N times,
then SIGKILL, on its whole process group) and records how it ended.
:mod:`djprocess.run.child` is what runs inside the run (a forked child, or another
interpreter through :func:`~djprocess.run.child.serve`); what a run without database access
sends back goes through :mod:`djprocess.run.relay` and :mod:`djprocess.run.output`.
``_statuswatcher`` (the status poll and heartbeat thread) is private.
"""
