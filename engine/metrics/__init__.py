"""Image-quality metrics: FID, KID, Inception Score and precision/recall over pluggable feature networks."""
