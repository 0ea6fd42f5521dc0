"""Training: the training function, the job store, the queue, workers and their supervisor."""
