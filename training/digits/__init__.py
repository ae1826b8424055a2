"""The digits demo models: a tiny Stable-Diffusion-layout checkpoint, a DCGAN and a classifier, trained on
scikit-learn's handwritten digits. ``python -m training.digits.train_all`` rebuilds all three."""
