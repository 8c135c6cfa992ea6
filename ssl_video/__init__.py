"""ssl_video: self-supervised video pretraining that predicts the future of drive videos."""

__version__ = "0.1.0"
