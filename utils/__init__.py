"""Device code of the matting skill: one module per stage (Python 3.7, numpy, OpenCV, hilens)."""
