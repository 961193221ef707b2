"""The collector: every namespace on the host, from processes, open fds and bind mounts."""
