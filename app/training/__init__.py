"""The scikit-learn side: training sets and augmentation, the classifier and its
calibration, fitting a model, operators' datasets, and the training process
(``python -m app.training``). Imported only by processes that train."""
