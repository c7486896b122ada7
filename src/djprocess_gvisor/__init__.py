"""Run each process inside a gVisor (``runsc``) sandbox: the subprocess backend's executor
:class:`djprocess_gvisor.executor.GvisorExecutor`."""
