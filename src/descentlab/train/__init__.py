"""Training: ``fit`` (mini-batch gradient descent over epochs), History, callbacks, metrics."""

from descentlab.train.callbacks import Callback, EarlyStopping, ProgressBar
from descentlab.train.checkpoint import load_checkpoint, save_checkpoint
from descentlab.train.fit import Trainer, evaluate, fit, predict
from descentlab.train.history import History
from descentlab.train.metrics import accuracy, confusion_matrix

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "ProgressBar",
    "Trainer",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "fit",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
]
