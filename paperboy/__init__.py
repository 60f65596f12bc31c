"""The composition root: configuration, CLI, scheduler jobs and service start/stop."""
