"""SGD Studio's PyTorch engine: the training worker for runs with backend "torch".

The Node side (core/engine/torch/driver.ts) starts `python -m sgd_studio_torch`
and drives it over stdio (protocol.py): it loads the dataset with the
project's own loaders, compiles the schedule, draws each epoch's order and
augmentation from the run's seed, and sends them here; this package only
builds the model from its graph (models.py), runs the steps and evaluates.
torch and numpy only; nothing is installed at run time.
"""

PROTOCOL_VERSION = 1
