"""The learning half: building modules, training, runs, metrics, checkpoints, export, classifying."""
