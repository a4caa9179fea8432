"""Keras callbacks of hwkeras training: disentanglement metrics logged next to the losses.

``hwkeras fit --eval-every N`` makes each epoch N steps long and adds ``DisentanglementCallback``
before the CSV and TensorBoard loggers, so the headline score of every chosen metric lands in
``history.csv`` and in TensorBoard as ``eval_<metric>`` at the end of each epoch. It lives here,
not in ``hwkeras.metrics``, so that the metrics import with numpy and scikit-learn alone.
"""

import keras

from hwkeras.files import write_json_atomically
from hwkeras.metrics.evaluate import evaluate, parse_metric_names, representation_from_model


class DisentanglementCallback(keras.callbacks.Callback):
    """Evaluates ``metrics`` on ``ground_truth_data`` every ``every_epochs`` epochs.

    Args:
        ground_truth_data: a dataset with the ground-truth factor API.
        metrics: "all", a comma-separated string or a list of metric names.
        protocol, seed, params: as for ``hwkeras.metrics.evaluate`` (params shrinks the
            reference sample sizes, e.g. ``{"mig": {"num_train": 2000}}``).
        log: optional callable receiving a one-line progress message.
        path: optional JSON file that holds ``records`` after every evaluation (written atomically),
            so that a run stopped later keeps them.
    """

    def __init__(self, ground_truth_data, metrics="mig", every_epochs=1, protocol="dlib", seed=0,
                 params=None, log=None, path=None):
        super().__init__()
        self.ground_truth_data = ground_truth_data
        self.metric_names = parse_metric_names(metrics)
        self.every_epochs = int(every_epochs)
        self.protocol = protocol
        self.seed = seed
        self.metric_params = params or {}  # not `params`: keras.callbacks.Callback owns that name
        self.log = log
        self.path = path
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        # The encoder mean is deterministic: on a finite dataset each distinct image is encoded once
        # per evaluation (in memory: the weights change between epochs).
        record = evaluate(self.ground_truth_data, representation_from_model(self.model), self.metric_names,
                          protocol=self.protocol, seed=self.seed, params=self.metric_params, encode_once=True)
        self.records.append({"epoch": epoch + 1, **record})
        if self.path is not None:
            write_json_atomically(self.records, self.path)
        scores = {f"eval_{name}": float(record["summary"][name]) for name in self.metric_names}
        if logs is not None:
            logs.update(scores)
        if self.log:
            self.log("  ".join(f"{k} {v:.4f}" for k, v in scores.items()))

