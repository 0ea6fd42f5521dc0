"""CNN Playground: learn and demonstrate convolutional neural networks."""

__version__ = "0.2.0"
