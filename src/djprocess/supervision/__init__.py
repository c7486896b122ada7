"""The supervision: the second path that stops a run, through the database.

:func:`djprocess.supervision.supervisor.check` decides what is due for one process (a
passed deadline, a stop that did not complete, a lost worker, a task never claimed) and
does it; watchdog tasks and the :class:`~djprocess.supervision.sweeper.Sweeper` (every
process whose ``next_check_at`` has come) call it. Nothing here knows a task queue.
"""
