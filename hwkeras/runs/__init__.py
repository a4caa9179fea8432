"""A run's directory and what keeps it safe: the layout (every file name, config.json's schema),
checkpoints, the guard (NaN check, signals, checkpoint interval), the logs (history, TensorBoard)
and the run's callbacks. ``hwkeras.training`` keeps only the per-step mechanics.
"""
