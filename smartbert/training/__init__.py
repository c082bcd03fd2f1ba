"""Training: the trainer, mixed precision, resumable runs, a method's training from task to checkpoint,
and SmartBERT's lambda selection on held-out training data."""
