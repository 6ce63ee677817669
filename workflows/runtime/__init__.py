"""The running system: actors, enqueueing, the timer poller/sweeper, the embedded worker."""
