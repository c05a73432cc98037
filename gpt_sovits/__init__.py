"""GPT-SoVITS re-implementation: few-shot voice cloning compatible with upstream GPT-SoVITS weight files."""

__version__ = "0.1.0"
