"""nnrepro: reproduce the figures of five documents on optimization and sampling of deep nets."""
__version__ = "0.1.0"
