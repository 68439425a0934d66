"""Serving the model: the kNN vote and confidence in numpy, the recognizer that
holds and swaps models, the reader every request goes through, and the model
store (files, snapshot, Redis). Never imports scikit-learn, scipy or training/."""
