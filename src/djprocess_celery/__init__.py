"""Celery worker backend for djprocess: tasks, remote-control kill commands, backend."""
