"""The choices the metrics nodes offer; plain data, so listing the nodes needs no torch."""

FEATURE_NETWORKS = ["inception-v3 (FID standard)", "atelier-digits (classifier)"]
METRIC_SETS = {"fid": {"fid"}, "fid+kid": {"fid", "kid"}, "all": {"fid", "kid", "is", "precision_recall"}}
RESIZE_MODES = ("pytorch-fid", "clean-fid")  # how images are resized for Inception (see features.py)
